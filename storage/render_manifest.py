"""The render manifest: one Parquet row per performance of an output folder, rewritten whole
(temp file + replace) after every finished render, so it always matches the WAVs beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

MANIFEST_NAME = "renders.parquet"

SCHEMA = pa.schema([
    ("performance", pa.string()), ("performance_hash", pa.string()), ("status", pa.string()),
    ("error", pa.string()), ("wav", pa.string()), ("duration_s", pa.float64()),
    ("seed", pa.int64()), ("sampler", pa.string()), ("steps", pa.int32()),
    ("guidance", pa.float64()), ("eta", pa.float64()), ("chunks", pa.int32()),
    ("chunk_s", pa.float64()), ("overlap_s", pa.float64()), ("retrieval", pa.bool_()),
    ("strength", pa.float64()), ("phrases", pa.list_(pa.int64())),
    ("diffusion_checkpoint", pa.string()), ("diffusion_sha256", pa.string()),
    ("vqvae_checkpoint", pa.string()), ("vqvae_sha256", pa.string()),
    ("settings_hash", pa.string()), ("seam_ratio", pa.float64()),
    ("conditioning_s", pa.float64()), ("sampling_s", pa.float64()),
    ("decoding_s", pa.float64()), ("writing_s", pa.float64()), ("rendered_at", pa.string()),
])


@dataclass(frozen=True)
class RenderRecord:
    performance: str  # the recording's path as given
    performance_hash: str  # its content hash: a changed recording is rendered again
    status: str  # "ok" | "failed"
    error: str | None = None
    wav: str | None = None
    duration_s: float | None = None
    seed: int | None = None
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    eta: float | None = None
    chunks: int | None = None
    chunk_s: float | None = None
    overlap_s: float | None = None
    retrieval: bool | None = None
    strength: float | None = None
    phrases: list[int] = field(default_factory=list)  # retrieved phrase per chunk, in order
    diffusion_checkpoint: str | None = None
    diffusion_sha256: str | None = None
    vqvae_checkpoint: str | None = None
    vqvae_sha256: str | None = None
    settings_hash: str | None = None  # everything that shapes the audio, in one hash
    seam_ratio: float | None = None  # worst chunk seam ÷ the audio's own 99th-percentile jump
    conditioning_s: float | None = None
    sampling_s: float | None = None
    decoding_s: float | None = None
    writing_s: float | None = None
    rendered_at: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def write_manifest(records: list[RenderRecord], path: Path | str) -> Path:
    rows = sorted((asdict(r) for r in records), key=lambda r: r["performance"])
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
    return Path(path)


def read_manifest(path: Path | str) -> list[RenderRecord]:
    """The records of an output folder's manifest; none when there is no manifest yet."""
    path = Path(path)
    if not path.is_file():
        return []
    table = pq.read_table(path)
    missing = [n for n in SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{path}: render manifest lacks columns {', '.join(missing)}")
    names = [f.name for f in fields(RenderRecord)]
    return [RenderRecord(**{k: row[k] if k != "phrases" else list(row[k] or []) for k in names})
            for row in table.to_pylist()]
