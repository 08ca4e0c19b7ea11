"""The motion-audio pair manifest: one Parquet row per pair, written whole, sorted by id.

`echelon pairs` writes it from a pairing sheet; training reads the rows whose status is
`ok`. A manifest from before statuses were kept (five columns) reads as all `ok`, offsets
given."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

STATUSES = ("ok", "low_confidence", "failed")

SCHEMA = pa.schema([
    ("pair_id", pa.string()),  # the recording as the sheet names it
    ("track_id", pa.string()),  # the audio's content hash: the same track whatever its path
    ("audio_path", pa.string()),  # absolute, or relative to the manifest's folder
    ("motion_path", pa.string()),
    ("offset_s", pa.float64()),  # audio time = recording time t + offset_s; null if unknown
    ("estimated", pa.bool_()),  # found by clock sync (false: given in the sheet)
    ("confidence", pa.float64()),  # clock sync's, 0–1; null when the offset was given
    ("status", pa.string()),  # ok | low_confidence | failed: only `ok` pairs are trained on
    ("reason", pa.string()),  # why not ok, or what was done (trimmed to the overlap); null
    ("overlap_start_s", pa.float64()),  # the part of the track the recording covers
    ("overlap_end_s", pa.float64()),
    ("fingerprint", pa.string()),  # of everything the row was made from: unchanged, kept
])
REQUIRED = ("pair_id", "track_id", "audio_path", "motion_path", "offset_s")


@dataclass(frozen=True)
class MotionAudioPair:
    pair_id: str
    track_id: str
    audio_path: str
    motion_path: str
    offset_s: float | None
    estimated: bool = False
    confidence: float | None = None
    status: str = "ok"
    reason: str | None = None
    overlap_start_s: float | None = None
    overlap_end_s: float | None = None
    fingerprint: str | None = None

    @property
    def usable(self) -> bool:
        """Trained on: its offset is known and trusted."""
        return self.status == "ok" and self.offset_s is not None


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
    missing = [n for n in REQUIRED if n not in table.column_names]
    if missing:
        raise ValueError(f"{path}: pair manifest lacks columns {', '.join(missing)}")
    pairs = []
    for row in table.to_pylist():
        # relative paths are relative to the manifest, so a home folder can move as a whole
        for key in ("audio_path", "motion_path"):
            row[key] = str((path.parent / row[key]).resolve())
        given = {k: row[k] for k in SCHEMA.names if row.get(k) is not None}
        pairs.append(MotionAudioPair(**({k: row[k] for k in REQUIRED} | given)))
    return pairs
