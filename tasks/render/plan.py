"""What a render will do, decided before any sampling: which performances are already
rendered with the same content and settings (skipped), which recordings are unusable
(failed, with the reason), and for the rest the chunks and seeds.

Every performance is cut into chunks of one length (the last one shifted back to end with the
performance), so the chunks of many performances batch. Round k generates chunk k of every
performance that has one. Each performance's seed derives from the base seed and its content,
each chunk's noise from that seed and the chunk's index.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from storage.render_manifest import MANIFEST_NAME, RenderRecord, read_manifest
from storage.stamps import content_hash, utc_now
from tasks.config import RenderConfig, SamplerConfig
from tasks.motion.recording import Performance, PerformanceError, load_performance
from tasks.render.models import RenderModels

PERFORMANCE_SUFFIXES = (".parquet", ".csv")


@dataclass
class RenderJob:
    """One performance being rendered: what the manifest will say, and its latents so far."""

    path: Path
    performance: Performance
    record: RenderRecord  # timings filled in as the work goes
    n_latents: int
    starts: list[int]  # first latent frame of each chunk
    latents: np.ndarray  # (C, n_latents) stitched so far
    filled: int = 0  # latent frames [0, filled) are final up to the next cross-fade
    tempo: list[float] = field(default_factory=list)  # per chunk, for retrieval
    energy: list[float] = field(default_factory=list)
    phrases: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("conditioning_s", "sampling_s", "decoding_s", "writing_s"), 0.0))


@dataclass
class RenderPlan:
    out_dir: Path
    sampler: SamplerConfig
    length: int  # latent frames per chunk
    jobs: list[RenderJob]  # to render, in path order
    records: dict[str, RenderRecord]  # the manifest: every performance ever rendered here
    skipped: list[str]
    failed: list[str]

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST_NAME

    @property
    def rounds(self) -> int:
        return max((len(j.starts) for j in self.jobs), default=0)

    def active(self, k: int) -> list[RenderJob]:
        """The jobs that have a chunk k."""
        return [j for j in self.jobs if len(j.starts) > k]

    def ending(self, k: int) -> list[RenderJob]:
        """The jobs whose last chunk is chunk k."""
        return [j for j in self.jobs if len(j.starts) == k + 1]


def find_performances(folder: Path | str) -> list[Path]:
    """Every recording (.parquet, .csv) under `folder`, sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix.lower() in PERFORMANCE_SUFFIXES and not p.name.startswith("."))


def plan_renders(paths: list[Path], out_dir: Path, models: RenderModels, config: RenderConfig,
                 sampler: SamplerConfig, force: bool = False, chooser: str = "") -> RenderPlan:
    """Skip what the manifest says is rendered (same content, settings, checkpoints, and
    `chooser`: what picks the retrieval phrases; the WAV on disk) unless `force`; record
    unusable recordings as failed; plan the rest."""
    out_dir = Path(out_dir)
    settings = settings_hash(config, sampler, models, chooser)
    previous = {r.performance: r for r in read_manifest(out_dir / MANIFEST_NAME)}
    length = round(config.chunk_s * models.latent_rate)
    plan = RenderPlan(out_dir, sampler, length, [], dict(previous), [], [])
    names = wav_names(paths)
    for path in paths:
        key, digest = str(path), content_hash(path)
        done = previous.get(key)
        if (not force and done is not None and done.status == "ok"
                and done.performance_hash == digest and done.settings_hash == settings
                and done.wav and (out_dir / done.wav).is_file()):
            plan.skipped.append(key)
            continue
        try:
            performance = load_performance(path, models.echelon.motion)
        except Exception as error:  # noqa: BLE001 - one recording never stops the batch
            reason = str(error) if isinstance(error, PerformanceError) else \
                f"{path}: cannot be read ({type(error).__name__}: {error})"
            plan.records[key] = RenderRecord(key, digest, "failed", error=reason,
                                             settings_hash=settings, rendered_at=utc_now())
            plan.failed.append(key)
            continue
        plan.jobs.append(_job(path, performance, digest, names[path], config, sampler, settings,
                              models))
    return plan


def _job(path: Path, performance: Performance, digest: str, wav_name: str, config: RenderConfig,
         sampler: SamplerConfig, settings: str, models: RenderModels) -> RenderJob:
    rate = models.latent_rate
    n_latents = max(1, int(round(performance.duration_s * rate)))
    starts = chunk_starts(n_latents, round(config.chunk_s * rate), round(config.overlap_s * rate))
    record = RenderRecord(
        str(path), digest, "ok", wav=wav_name, seed=performance_seed(config.seed, digest),
        sampler=sampler.kind, steps=sampler.steps, guidance=sampler.guidance_scale,
        eta=sampler.eta, chunks=len(starts), chunk_s=config.chunk_s, overlap_s=config.overlap_s,
        retrieval=config.retrieval.enabled,
        strength=config.retrieval.strength if config.retrieval.enabled else 1.0,
        diffusion_checkpoint=models.diffusion_checkpoint,
        diffusion_sha256=models.diffusion_sha256, vqvae_checkpoint=models.vqvae_checkpoint,
        vqvae_sha256=models.vqvae_sha256, settings_hash=settings)
    latents = np.zeros((models.model.backbone_channels, n_latents), np.float32)
    return RenderJob(path, performance, record, n_latents, starts, latents)


def chunk_starts(n_latents: int, length: int, overlap: int) -> list[int]:
    """First latent frame of each chunk: every `length − overlap` frames, the last one moved
    back so it ends with the performance (its overlap is then longer)."""
    if n_latents <= length:
        return [0]
    starts = list(range(0, n_latents - length, length - overlap))
    return starts + [n_latents - length]


def performance_seed(base_seed: int, performance_hash: str) -> int:
    digest = hashlib.blake2b(f"{base_seed}:{performance_hash}".encode(), digest_size=7)
    return int.from_bytes(digest.digest(), "big")


def chunk_seed(seed: int, chunk: int) -> int:
    return (seed * 1_000_003 + chunk) % (1 << 62)


def settings_hash(config: RenderConfig, sampler: SamplerConfig, models: RenderModels,
                  chooser: str = "") -> str:
    """Everything that changes the audio (the batch size does not; the thread count only its
    last bits); `chooser` names a trained mapper that picks the retrieval phrases."""
    settings = {"render": config.model_dump(mode="json", exclude={"batch_size", "threads"}),
                "sampler": sampler.model_dump(mode="json"),
                "diffusion": models.diffusion_sha256, "vqvae": models.vqvae_sha256}
    if chooser and config.retrieval.enabled:
        settings["chooser"] = chooser
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def wav_names(paths: list[Path]) -> dict[Path, str]:
    """<stem>.wav, or <name>.wav where two recordings share a stem."""
    stems = [p.stem for p in paths]
    return {p: f"{p.stem if stems.count(p.stem) == 1 else p.name}.wav" for p in paths}
