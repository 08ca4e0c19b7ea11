"""One round of a render: chunk k of every performance that has one, sampled in batches.

The first frames of chunk k overlap chunk k − 1 and are generated to agree with it
(inpainted), then cross-faded into it. With a deterministic sampler (DDIM η = 0, DPM-Solver++)
the audio does not depend on which other performances share the batch, nor on the folder's
order: each chunk's noise comes from its performance's seed and its index. (Stochastic
samplers draw their step noise for the batch as a whole.)
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from echelon_models.diffusion import guided, sample
from tasks.config import RenderConfig, SamplerConfig
from tasks.models.builders import build_sampler
from tasks.mapper.windows import typical_log_speed
from tasks.motion.features import motion_energy, motion_tempo
from tasks.motion.windows import motion_batch, motion_for_latents
from tasks.render.models import RenderModels
from tasks.render.plan import RenderJob, RenderPlan, chunk_seed
from tasks.render.retrieval import PhraseCatalog, ranks_01

TEMPO_WINDOW_S = 8.0  # motion read around a chunk to find its tempo


def render_round(plan: RenderPlan, k: int, models: RenderModels, config: RenderConfig,
                 catalog: PhraseCatalog | None = None) -> int:
    """Sample chunk k of every active job, `config.batch_size` at a time, and stitch each into
    its job's latents; returns how many chunks were made."""
    active = plan.active(k)
    for first in range(0, len(active), config.batch_size):
        batch = active[first:first + config.batch_size]
        _render_batch(batch, k, plan.length, models, config, plan.sampler, catalog)
    return len(active)


def choose_phrases(jobs: list[RenderJob], catalog: PhraseCatalog, config: RenderConfig) -> None:
    """Tempo and energy of every chunk's motion; energy ranked over all chunks of the render.
    Tempo is read over at least TEMPO_WINDOW_S around the chunk: a short chunk holds too few
    beats to place the spectrum's peak. The catalog's mapper chooses when it has one (the rule
    where none of its nearest phrases has tokens), else the hand-made rule."""
    if not jobs:
        return
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
        typical = typical_log_speed(job.performance) if catalog.mapper is not None else 0.0
        job.phrases = []
        for start, tempo in zip(job.starts, job.tempo):
            rank, chosen = next(ranks), None
            if catalog.mapper is not None:
                center = int(round((start / catalog.latent_rate + config.chunk_s / 2) * rate))
                chosen = catalog.mapper.choose(job.performance, center, tempo, typical, catalog,
                                               config.retrieval.tempo_tolerance)
            chosen = chosen or catalog.choose(tempo, rank, config.retrieval)
            job.phrases.append(chosen.phrase_id)


def crossfade_weights(n: int) -> np.ndarray:
    """(n,) raised-cosine weight of the new chunk over an overlap of n frames: 0 → 1."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


@torch.no_grad()
def _render_batch(batch: list[RenderJob], k: int, length: int, models: RenderModels,
                  config: RenderConfig, sampler_config: SamplerConfig,
                  catalog: PhraseCatalog | None) -> None:
    started = time.perf_counter()
    cond = _conditioning(batch, k, length, models)  # (B, L, 256)
    conditioned = time.perf_counter()

    channels = models.model.backbone_channels
    noise = torch.stack([torch.randn((channels, length),
                                     generator=torch.Generator().manual_seed(
                                         chunk_seed(j.record.seed, k))) for j in batch])
    sampler = build_sampler(models.config.noise, sampler_config)
    first_step, x = 0, noise
    if config.retrieval.enabled:  # SDEdit: start from a library phrase, partly noised
        first_step = sampler.start_index(config.retrieval.strength)
        by_id = {c.phrase_id: c for c in catalog.candidates}
        reference = torch.from_numpy(np.stack([catalog.latents(by_id[j.phrases[k]], length)
                                               for j in batch]))  # (B, C, L)
        x = sampler.noise_to(reference, noise, sampler.timesteps[first_step])
    known, mask = _overlaps(batch, k, noise)
    generator = torch.Generator().manual_seed(chunk_seed(batch[0].record.seed, k) ^ 1)
    device = models.device
    out = sample(guided(models.model, cond, sampler_config.guidance_scale), sampler,
                 x.to(device), generator, first_step, known.to(device), mask.to(device),
                 noise.to(device))
    chunks = out.float().cpu().numpy()  # (B, C, L)
    sampled = time.perf_counter()

    for job, chunk in zip(batch, chunks):
        _stitch(job, k, chunk)
        job.timings["conditioning_s"] += (conditioned - started) / len(batch)
        job.timings["sampling_s"] += (sampled - conditioned) / len(batch)


def _conditioning(batch: list[RenderJob], k: int, length: int,
                  models: RenderModels) -> torch.Tensor:
    """(B, L, 256): the encoder's vector for each latent frame of chunk k of each job."""
    rate = models.latent_rate
    n_motion = int(math.ceil(length * batch[0].performance.frame_rate / rate)) + 2
    inputs = [motion_for_latents(j.performance, j.performance.start_s + j.starts[k] / rate,
                                 length, models.echelon.motion, rate, n_motion) for j in batch]
    return models.model.encode_motion(motion_batch(inputs).to(models.device))


def _overlaps(batch: list[RenderJob], k: int, noise: torch.Tensor,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, L) latents already made under chunk k's overlap, and the (B, 1, L) mask of them."""
    known = torch.zeros_like(noise)
    mask = torch.zeros(len(noise), 1, noise.shape[-1])
    for row, job in enumerate(batch):
        overlap = job.filled - job.starts[k] if k else 0
        if overlap > 0:
            known[row, :, :overlap] = torch.from_numpy(job.latents[:, job.starts[k]:job.filled])
            mask[row, :, :overlap] = 1.0
    return known, mask


def _stitch(job: RenderJob, k: int, chunk: np.ndarray) -> None:
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
