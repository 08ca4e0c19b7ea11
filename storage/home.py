"""The layout of an Echelon home folder: one place that knows where each file lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def db_file(self) -> Path:
        return self.root / "phrases.db"

    @property
    def faiss(self) -> Path:
        return self.root / "phrases.faiss"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def vqvae_checkpoints(self) -> Path:
        return self.checkpoints / "vqvae"

    @property
    def diffusion_checkpoints(self) -> Path:
        return self.checkpoints / "diffusion"

    @property
    def validation_renders(self) -> Path:
        return self.artifacts / "validation_renders"

    @property
    def tokens(self) -> Path:
        return self.artifacts / "tokens.parquet"

    @property
    def performances(self) -> Path:
        return self.root / "performances"

    @property
    def pairs_manifest(self) -> Path:
        return self.root / "motion_audio_pairs.parquet"

    def db_url(self, override: str | None = None) -> str:
        """`override` (any SQLAlchemy URL) if given, else the SQLite file in this home."""
        return override or f"sqlite:///{self.db_file}"
