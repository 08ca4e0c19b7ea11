"""Token sequences in Parquet: one row per run of up to ROW_CODES codes of one track.

Rows are sorted by (track_path, start_frame) and written whole, so tokenizing the same audio
with the same model twice gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

ROW_CODES = 4096  # ≈ 6 s at 689 codes/s: rows small enough to read a training crop cheaply

SCHEMA = pa.schema([
    ("track_id", pa.string()),  # content hash of the audio
    ("track_path", pa.string()),
    ("start_frame", pa.int64()),  # index of the row's first code in the track's sequence
    ("codes", pa.list_(pa.int16())),
    ("model_version", pa.string()),
    ("n_samples", pa.int64()),  # the track's length at sample_rate, to decode to the same length
    ("sample_rate", pa.int32()),
])


@dataclass(frozen=True)
class TokenSequence:
    track_id: str
    track_path: str
    codes: np.ndarray  # (L,) int16
    model_version: str
    n_samples: int
    sample_rate: int


def sequence_rows(seq: TokenSequence) -> list[dict]:
    return [{"track_id": seq.track_id, "track_path": seq.track_path, "start_frame": start,
             "codes": seq.codes[start:start + ROW_CODES], "model_version": seq.model_version,
             "n_samples": seq.n_samples, "sample_rate": seq.sample_rate}
            for start in range(0, max(1, len(seq.codes)), ROW_CODES)]


def write_tokens(sequences: list[TokenSequence], path: Path | str) -> Path:
    rows = [r for seq in sorted(sequences, key=lambda s: s.track_path) for r in sequence_rows(seq)]
    columns = {name: [r[name] for r in rows] for name in SCHEMA.names}
    columns["codes"] = pa.array([np.asarray(c, np.int16) for c in columns["codes"]],
                                type=pa.list_(pa.int16()))
    table = pa.table(columns, schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_tokens(path: Path | str) -> list[TokenSequence]:
    """Every track's sequence, rows joined in order of start_frame."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: token file does not exist")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(f"{path}: not a readable Parquet file ({error})") from error
    missing = [n for n in SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{path}: not a token file (no column {', '.join(missing)})")
    by_track: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        by_track.setdefault(row["track_path"], []).append(row)
    sequences = []
    for track_path, rows in sorted(by_track.items()):
        rows.sort(key=lambda r: r["start_frame"])
        codes = np.concatenate([np.asarray(r["codes"], np.int16) for r in rows])
        first = rows[0]
        sequences.append(TokenSequence(first["track_id"], track_path, codes,
                                       first["model_version"], first["n_samples"],
                                       first["sample_rate"]))
    return sequences
