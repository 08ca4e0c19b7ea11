"""The motion-audio pair manifest: one Parquet row per pair, written whole, sorted by id."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

SCHEMA = pa.schema([("pair_id", pa.string()), ("track_id", pa.string()),
                    ("audio_path", pa.string()), ("motion_path", pa.string()),
                    ("offset_s", pa.float64())])


@dataclass(frozen=True)
class MotionAudioPair:
    pair_id: str
    track_id: str  # the audio's content hash: the same track whatever its path
    audio_path: str  # absolute, or relative to the manifest's folder
    motion_path: str
    offset_s: float  # audio time = motion recording time `t` + offset_s


def write_pairs(pairs: list[MotionAudioPair], path: Path | str) -> Path:
    rows = sorted((asdict(p) for p in pairs), key=lambda r: r["pair_id"])
    ids = [r["pair_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: pair ids must be unique")
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_pairs(path: Path | str) -> list[MotionAudioPair]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pair manifest does not exist")
    table = pq.read_table(path)
    missing = [n for n in SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{path}: pair manifest lacks columns {', '.join(missing)}")
    pairs = []
    for row in table.to_pylist():
        # relative paths are relative to the manifest, so a home folder can move as a whole
        for key in ("audio_path", "motion_path"):
            row[key] = str((path.parent / row[key]).resolve())
        pairs.append(MotionAudioPair(**{k: row[k] for k in SCHEMA.names}))
    return pairs
