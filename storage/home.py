"""The layout of an Echelon home folder: the one place that knows where each file lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DB_NAME = "phrases.db"
VQVAE_CHECKPOINT = "vqvae.pt"
DIFFUSION_CHECKPOINT = "diffusion.pt"
MAPPER_CHECKPOINT = "mapper.pt"
AUGMENT_LOG = "augmentations.jsonl"  # beside a trainer's checkpoint: every sample's draws


class _Under:
    """A path inside the home: `Home(root).faiss` is `root / "phrases.faiss"`."""

    def __init__(self, *parts: str):
        self.parts = parts

    def __get__(self, home: "Home", owner=None) -> Path:
        return home.root.joinpath(*self.parts)


@dataclass(frozen=True)
class Home:
    root: Path

    db_file = _Under(DB_NAME)
    faiss = _Under("phrases.faiss")
    artifacts = _Under("artifacts")
    tokens = _Under("artifacts", "tokens.parquet")
    evaluations = _Under("artifacts", "evaluations.parquet")  # every evaluation, appended
    validation_renders = _Under("artifacts", "validation_renders")
    checkpoints = _Under("checkpoints")
    vqvae_checkpoints = _Under("checkpoints", "vqvae")
    vqvae_checkpoint = _Under("checkpoints", "vqvae", VQVAE_CHECKPOINT)
    diffusion_checkpoints = _Under("checkpoints", "diffusion")
    diffusion_checkpoint = _Under("checkpoints", "diffusion", DIFFUSION_CHECKPOINT)
    mapper_checkpoints = _Under("checkpoints", "mapper")
    mapper_checkpoint = _Under("checkpoints", "mapper", MAPPER_CHECKPOINT)
    performances = _Under("performances")
    renders = _Under("renders")
    pairs_manifest = _Under("motion_audio_pairs.parquet")
    pairs_sheet = _Under("pairs.csv")  # the pairing sheet the `pairs` deployment reads
    pair_plots = _Under("artifacts", "pairs")  # motion against music of unsure pairs
    training_cache = _Under("cache", "training")  # codes and motion memory-mapped by training
    demo_library = _Under("library")  # the tracks `echelon demo` generates
    prefect = _Under("prefect")  # the Prefect server's own database (`echelon server`)

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())

    def db_url(self, override: str | None = None) -> str:
        """`override` (any SQLAlchemy URL) if given, else the SQLite file in this home."""
        return override or f"sqlite:///{self.db_file}"

    def has_database(self, override: str | None = None) -> bool:
        """A database to read: the given URL, or a SQLite file already in this home."""
        return override is not None or self.db_file.is_file()
