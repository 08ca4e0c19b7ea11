"""A render spread over several workers (processes, Dask workers, one per GPU): the plan's
performances cut into shards, each shard rendered whole (every round, then decoded and
written) by whichever worker takes it, its records returned to the one process that keeps
the manifest.

The audio is the same, byte for byte, however the shards are spread: a chunk's noise comes
from its performance's seed, a deterministic sampler's result does not depend on what shares
the batch, and every worker sums with the same number of CPU threads (`render.threads`):
torch splits its sums by thread, so another thread count changes the last bits.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from storage.checkpoints import CheckpointError
from storage.render_manifest import RenderRecord
from tasks.config import RenderConfig, SamplerConfig
from tasks.render.finish import finish_render
from tasks.render.models import RenderModels, load_render_models
from tasks.render.plan import RenderJob, RenderPlan
from tasks.render.retrieval import PhraseCatalog
from tasks.render.sampling import render_round


@dataclass(frozen=True)
class Checkpoints:
    """What a worker loads: the planning process's own models never travel."""

    diffusion: str
    vqvae: str
    device: str | None = None


@dataclass
class Shard:
    index: int
    jobs: list[RenderJob]
    device: str | None  # where this shard's sampling runs


def make_shards(plan: RenderPlan, size: int, devices: list[str] | None = None) -> list[Shard]:
    """The plan's jobs in path order, `size` a shard; shard i runs on devices[i % n]."""
    size = max(1, size)
    groups = [plan.jobs[i:i + size] for i in range(0, len(plan.jobs), size)]
    return [Shard(i, jobs, devices[i % len(devices)] if devices else None)
            for i, jobs in enumerate(groups)]


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run torch's CPU ops on `n` threads, then give back the number the caller had."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=4)
def _cached_models(diffusion: str, vqvae: str, device: str | None,
                   stamp: tuple[int, ...]) -> RenderModels:
    del stamp  # part of the key only: a checkpoint rewritten in place is loaded again
    return load_render_models(diffusion, vqvae, device)


def worker_models(checkpoints: Checkpoints, device: str | None) -> RenderModels:
    """The models, loaded once per worker process (and per device) rather than per shard."""
    stamp = tuple(v for p in (checkpoints.diffusion, checkpoints.vqvae)
                  for v in (os.stat(p).st_mtime_ns, os.stat(p).st_size))
    return _cached_models(checkpoints.diffusion, checkpoints.vqvae,
                          device or checkpoints.device, stamp)


def render_shard(shard: Shard, out_dir: Path, length: int, sampler: SamplerConfig,
                 config: RenderConfig, checkpoints: Checkpoints,
                 catalog: PhraseCatalog | None = None) -> list[RenderRecord]:
    """Render every job of `shard` (all its rounds), write its WAVs; one record per job. The
    manifest is not touched here: the caller owns it."""
    models = worker_models(checkpoints, shard.device)
    for job in shard.jobs:
        if (job.record.diffusion_sha256, job.record.vqvae_sha256) != (models.diffusion_sha256,
                                                                      models.vqvae_sha256):
            raise CheckpointError(f"{checkpoints.diffusion} or {checkpoints.vqvae} changed "
                                  f"since the render was planned: render again")
    own = RenderPlan(Path(out_dir), sampler, length, shard.jobs, {}, [], [])
    records = []
    with cpu_threads(config.threads):
        for k in range(own.rounds):
            render_round(own, k, models, config, catalog)
            records += [finish_render(job, own.out_dir, models, length) for job in own.ending(k)]
    return records
