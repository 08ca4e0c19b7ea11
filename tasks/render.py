"""Batch rendering: recorded performances → motion conditioning → diffusion → VQ-VAE decode → WAV.

Every performance is cut into chunks of one length (the last one shifted back to end with the
performance), so the chunks of many performances batch. Round k generates chunk k of every
performance that has one; the first frames of chunk k overlap chunk k − 1 and are generated to
agree with it (inpainted), then cross-faded into it. Latents are decoded once per performance,
so the decoder never sees a seam of its own.

Each performance's seed derives from the base seed and its content, each chunk's noise from
that seed and the chunk's index: with a deterministic sampler (DDIM η = 0, DPM-Solver++) the
audio does not depend on which other performances share the batch, nor on the folder's order.
(Stochastic samplers draw their step noise for the batch as a whole.)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from echelon_models.diffusion import MotionConditionedDenoiser, guided, sample
from storage.atomic import write_wav
from storage.checkpoints import CheckpointError
from storage.render_manifest import MANIFEST_NAME, RenderRecord, read_manifest, write_manifest
from tasks.config import DiffusionConfig, EchelonConfig, RenderConfig, SamplerConfig
from tasks.dataset import content_hash
from tasks.diffusion_data import motion_batch, motion_for_latents
from tasks.generate import build_sampler
from tasks.motion import Performance, PerformanceError, load_performance
from tasks.motion_features import motion_energy, motion_tempo
from tasks.retrieval import PhraseCatalog, ranks_01
from tasks.seams import seam_ratio
from tasks.tokenize import Tokenizer, decode_latents, load_tokenizer
from tasks.train import pick_device
from tasks.train_diffusion import load_diffusion

PERFORMANCE_SUFFIXES = (".parquet", ".csv")
TEMPO_WINDOW_S = 8.0  # motion read around a chunk to find its tempo


@dataclass
class RenderModels:
    model: MotionConditionedDenoiser
    config: DiffusionConfig
    echelon: EchelonConfig
    latent_scale: float
    tokenizer: Tokenizer
    diffusion_checkpoint: str
    diffusion_sha256: str
    vqvae_checkpoint: str
    vqvae_sha256: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def latent_rate(self) -> float:
        return self.tokenizer.model.codes_per_second


def file_sha256(path: Path | str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_render_models(diffusion_checkpoint: Path | str, vqvae_checkpoint: Path | str,
                       device: str | None = None) -> RenderModels:
    """The EMA diffusion model and the VQ-VAE it was trained on; refuses a VQ-VAE whose latents
    the diffusion model never saw."""
    target = pick_device(device)
    model, config, echelon, state = load_diffusion(diffusion_checkpoint, target)
    tokenizer = load_tokenizer(vqvae_checkpoint, device=target)
    if "latent_scale" not in state:
        raise CheckpointError(f"{diffusion_checkpoint}: no latent_scale; train it with "
                              f"`echelon train-diffusion`")
    trained_on = state.get("vqvae_version")
    if trained_on and trained_on != tokenizer.version:
        raise CheckpointError(f"{vqvae_checkpoint}: VQ-VAE version {tokenizer.version}, but the "
                              f"diffusion model was trained on {trained_on}")
    return RenderModels(model, config, echelon, float(state["latent_scale"]), tokenizer,
                        str(diffusion_checkpoint), file_sha256(diffusion_checkpoint),
                        str(vqvae_checkpoint), file_sha256(vqvae_checkpoint))


def resolve_sampler(render: RenderConfig, diffusion: DiffusionConfig,
                    overrides: dict | None = None) -> SamplerConfig:
    """The render config's sampler, else the checkpoint's, with `overrides` (kind, steps,
    guidance_scale) applied; a ValueError says why when it does not fit the model."""
    sampler = render.sampler or diffusion.sampler
    try:
        if overrides:
            sampler = SamplerConfig.model_validate({**sampler.model_dump(), **overrides})
        DiffusionConfig.model_validate({**diffusion.model_dump(), "sampler": sampler.model_dump()})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"sampler{' ' + where if where else ''}: {first['msg']}") from None
    return sampler


def find_performances(folder: Path | str) -> list[Path]:
    """Every recording (.parquet, .csv) under `folder`, sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix.lower() in PERFORMANCE_SUFFIXES and not p.name.startswith("."))


def chunk_starts(n_latents: int, length: int, overlap: int) -> list[int]:
    """First latent frame of each chunk: every `length − overlap` frames, the last one moved
    back so it ends with the performance (its overlap is then longer)."""
    if n_latents <= length:
        return [0]
    starts = list(range(0, n_latents - length, length - overlap))
    return starts + [n_latents - length]


def crossfade_weights(n: int) -> np.ndarray:
    """(n,) raised-cosine weight of the new chunk over an overlap of n frames: 0 → 1."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def performance_seed(base_seed: int, performance_hash: str) -> int:
    digest = hashlib.blake2b(f"{base_seed}:{performance_hash}".encode(), digest_size=7)
    return int.from_bytes(digest.digest(), "big")


def chunk_seed(seed: int, chunk: int) -> int:
    return (seed * 1_000_003 + chunk) % (1 << 62)


@dataclass
class _Job:
    path: Path
    performance: Performance
    record: RenderRecord  # what the manifest will say, timings filled as the work goes
    n_latents: int
    starts: list[int]
    latents: np.ndarray  # (C, n_latents) stitched so far
    filled: int = 0  # latent frames [0, filled) are final up to the next cross-fade
    tempo: list[float] = field(default_factory=list)  # per chunk, for retrieval
    energy: list[float] = field(default_factory=list)
    phrases: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("conditioning_s", "sampling_s", "decoding_s", "writing_s"), 0.0))


@dataclass
class RenderOutcome:
    records: list[RenderRecord]  # one per performance found, in path order
    rendered: list[str]
    skipped: list[str]
    failed: list[str]


def render_performances(paths: list[Path], out_dir: Path, models: RenderModels,
                        config: RenderConfig, force: bool = False,
                        catalog: PhraseCatalog | None = None,
                        on_progress: Callable[[int, int], None] | None = None,
                        on_finished: Callable[[RenderRecord], None] | None = None,
                        ) -> RenderOutcome:
    """Render every performance in `paths` into `out_dir`, writing `out_dir/renders.parquet`.
    A performance whose finished render (same content, same settings) is in the manifest and
    on disk is skipped unless `force`. Bad recordings become failed records; the rest go on."""
    if config.retrieval.enabled and catalog is None:
        raise ValueError("retrieval is enabled but no phrase catalog was given")
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST_NAME
    _remove_partial_files(out_dir)
    sampler = resolve_sampler(config, models.config)
    settings = _settings_hash(config, sampler, models)
    previous = {r.performance: r for r in read_manifest(manifest)}
    records = dict(previous)
    names = _wav_names(paths)
    jobs, skipped, failed = [], [], []
    for path in paths:
        key = str(path)
        digest = content_hash(path)
        done = previous.get(key)
        if (not force and done is not None and done.status == "ok"
                and done.performance_hash == digest and done.settings_hash == settings
                and done.wav and (out_dir / done.wav).is_file()):
            skipped.append(key)
            continue
        try:
            performance = load_performance(path, models.echelon.motion)
        except PerformanceError as error:
            records[key] = RenderRecord(key, digest, "failed", error=str(error),
                                        settings_hash=settings, rendered_at=_now())
            failed.append(key)
            continue
        jobs.append(_plan(path, performance, digest, names[path], config, sampler, settings,
                          models))
    write_manifest(list(records.values()), manifest)

    if config.retrieval.enabled and jobs:
        _choose_phrases(jobs, catalog, config)
    length = round(config.chunk_s * models.latent_rate)
    total = sum(len(j.starts) for j in jobs)
    done_chunks = 0
    rounds = max((len(j.starts) for j in jobs), default=0)
    for k in range(rounds):
        active = [j for j in jobs if len(j.starts) > k]
        for first in range(0, len(active), config.batch_size):
            batch = active[first:first + config.batch_size]
            _render_batch(batch, k, length, models, config, sampler, catalog)
            done_chunks += len(batch)
            if on_progress:
                on_progress(done_chunks, total)
            for job in batch:
                if len(job.starts) == k + 1:
                    records[str(job.path)] = _finish(job, out_dir, models, length)
                    write_manifest(list(records.values()), manifest)
                    if on_finished:
                        on_finished(records[str(job.path)])
    rendered = [str(j.path) for j in jobs]
    return RenderOutcome([records[str(p)] for p in paths], rendered, skipped, failed)


def _plan(path: Path, performance: Performance, digest: str, wav_name: str,
          config: RenderConfig, sampler: SamplerConfig, settings: str,
          models: RenderModels) -> _Job:
    rate = models.latent_rate
    n_latents = max(1, int(round(performance.duration_s * rate)))
    length = round(config.chunk_s * rate)
    starts = chunk_starts(n_latents, length, round(config.overlap_s * rate))
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
    return _Job(path, performance, record, n_latents, starts, latents)


def _choose_phrases(jobs: list[_Job], catalog: PhraseCatalog, config: RenderConfig) -> None:
    """Tempo and energy of every chunk's motion; energy ranked over all chunks of the render.
    Tempo is read over at least TEMPO_WINDOW_S around the chunk: a short chunk holds too few
    beats to place the spectrum's peak."""
    rate = jobs[0].performance.frame_rate
    for job in jobs:
        span = int(round(config.chunk_s * rate))
        wide = max(span, int(round(TEMPO_WINDOW_S * rate)))
        for start in job.starts:
            first = int(round(start / catalog.latent_rate * rate))
            around = max(0, min(first - (wide - span) // 2, job.performance.n_frames - wide))
            job.tempo.append(motion_tempo(job.performance, around, around + wide))
            job.energy.append(motion_energy(job.performance, first, first + span))
    ranks = iter(ranks_01([e for j in jobs for e in j.energy]))
    for job in jobs:
        job.phrases = [catalog.choose(tempo, next(ranks), config.retrieval).phrase_id
                       for tempo in job.tempo]


@torch.no_grad()
def _render_batch(batch: list[_Job], k: int, length: int, models: RenderModels,
                  config: RenderConfig, sampler_config: SamplerConfig,
                  catalog: PhraseCatalog | None) -> None:
    rate, device, motion = models.latent_rate, models.device, models.echelon.motion
    channels = models.model.backbone_channels
    n_motion = int(math.ceil(length * batch[0].performance.frame_rate / rate)) + 2

    started = time.perf_counter()
    inputs = [motion_for_latents(j.performance, j.performance.start_s + j.starts[k] / rate,
                                 length, motion, rate, n_motion) for j in batch]
    cond = models.model.encode_motion(motion_batch(inputs).to(device))  # (B, L, 256)
    conditioned = time.perf_counter()

    noise = torch.stack([torch.randn((channels, length),
                                     generator=torch.Generator().manual_seed(
                                         chunk_seed(j.record.seed, k))) for j in batch])
    sampler = build_sampler(models.config.noise, sampler_config)
    first_step = 0
    x = noise
    if config.retrieval.enabled:
        first_step = sampler.start_index(config.retrieval.strength)
        by_id = {c.phrase_id: c for c in catalog.candidates}
        reference = torch.from_numpy(np.stack([catalog.latents(by_id[j.phrases[k]], length)
                                               for j in batch]))  # (B, C, L)
        x = sampler.noise_to(reference, noise, sampler.timesteps[first_step])
    known = torch.zeros_like(noise)
    mask = torch.zeros(len(batch), 1, length)
    for row, job in enumerate(batch):
        overlap = job.filled - job.starts[k] if k else 0
        if overlap > 0:
            known[row, :, :overlap] = torch.from_numpy(job.latents[:, job.starts[k]:job.filled])
            mask[row, :, :overlap] = 1.0
    generator = torch.Generator().manual_seed(chunk_seed(batch[0].record.seed, k) ^ 1)
    out = sample(guided(models.model, cond, sampler_config.guidance_scale), sampler,
                 x.to(device), generator, first_step, known.to(device), mask.to(device),
                 noise.to(device))
    chunks = out.float().cpu().numpy()  # (B, C, L)
    sampled = time.perf_counter()

    for job, chunk in zip(batch, chunks):
        _stitch(job, k, chunk)
        job.timings["conditioning_s"] += (conditioned - started) / len(batch)
        job.timings["sampling_s"] += (sampled - conditioned) / len(batch)


def _stitch(job: _Job, k: int, chunk: np.ndarray) -> None:
    """Cross-fade chunk k (C, L) into the performance's latents over its overlap."""
    start = job.starts[k]
    end = min(start + chunk.shape[1], job.n_latents)
    overlap = max(0, job.filled - start)
    if overlap:
        w = crossfade_weights(overlap)
        job.latents[:, start:job.filled] = ((1 - w) * job.latents[:, start:job.filled]
                                            + w * chunk[:, :overlap])
    job.latents[:, start + overlap:end] = chunk[:, overlap:end - start]
    job.filled = end


def _finish(job: _Job, out_dir: Path, models: RenderModels, length: int) -> RenderRecord:
    """Decode the stitched latents and write the WAV whole."""
    started = time.perf_counter()
    tokenizer = models.tokenizer
    n_samples = job.n_latents * tokenizer.hop
    wave = np.clip(decode_latents(tokenizer, job.latents / models.latent_scale, n_samples), -1, 1)
    decoded = time.perf_counter()
    write_wav(out_dir / job.record.wav, wave, tokenizer.sample_rate)
    written = time.perf_counter()
    ends = [min(s + length, job.n_latents) for s in job.starts]
    seams = sorted({b * tokenizer.hop for k, s in enumerate(job.starts[1:], 1)
                    for b in (s, ends[k - 1])})
    timings = {**job.timings, "decoding_s": decoded - started, "writing_s": written - decoded}
    return replace(job.record, duration_s=n_samples / tokenizer.sample_rate,
                   phrases=list(job.phrases),
                   seam_ratio=seam_ratio(wave, seams, tokenizer.sample_rate),
                   rendered_at=_now(), **{k: round(v, 4) for k, v in timings.items()})


def _settings_hash(config: RenderConfig, sampler: SamplerConfig, models: RenderModels) -> str:
    settings = {"render": config.model_dump(mode="json", exclude={"batch_size"}),
                "sampler": sampler.model_dump(mode="json"),
                "diffusion": models.diffusion_sha256, "vqvae": models.vqvae_sha256}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _wav_names(paths: list[Path]) -> dict[Path, str]:
    """<stem>.wav, or <name>.wav where two recordings share a stem."""
    stems = [p.stem for p in paths]
    return {p: f"{p.stem if stems.count(p.stem) == 1 else p.name}.wav" for p in paths}


def _remove_partial_files(out_dir: Path) -> None:
    """Temporary files of a render that was killed while writing (atomic_path's names)."""
    if out_dir.is_dir():
        for leftover in out_dir.glob(".*.tmp.*"):
            leftover.unlink(missing_ok=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
