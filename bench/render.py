"""Batch rendering speed: seconds of audio rendered per second of wall time for batch sizes 1, 4
and 16, and the share of the time in each stage (conditioning, sampling, decoding, writing).

The tiny models (configs/tiny/) on CPU; the full-size diffusion model too where CUDA is
available. Weights are freshly initialised (one training step): speed does not depend on them.
The anchor is batch size 1 (one chunk at a time, what a loop over files would do) and real time.

Usage: .venv/bin/python bench/render.py [--performances 16] [--seconds 8] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from synthetic.performances import dance, write_performance  # noqa: E402
from synthetic.tracks import SectionSpec, TrackSpec, render, write_track  # noqa: E402
from tasks.config import (CONFIG_DIR, EchelonConfig, RenderConfig, SamplerConfig,
                          VQVAEModelConfig, load_diffusion_config, load_vqvae_config)  # noqa: E402
from tasks.models.builders import load_tokenizer  # noqa: E402
from tasks.motion.recording import Performance  # noqa: E402
from tasks.render.models import load_render_models  # noqa: E402
from tasks.render.plan import find_performances  # noqa: E402
from tasks.render.run import render_performances  # noqa: E402
from tasks.training.diffusion import train_diffusion  # noqa: E402
from tasks.training.latent_pairs import LatentPair  # noqa: E402
from tasks.training.vqvae import train_vqvae  # noqa: E402

STAGES = ("conditioning_s", "sampling_s", "decoding_s", "writing_s")


def checkpoints(folder: Path, diffusion_config: Path, vqvae_config: Path) -> tuple[Path, Path]:
    """One training step of each model: real checkpoints of the configs' sizes."""
    track = write_track(render(TrackSpec(bpm=120.0, sections=(SectionSpec("groove", 4),), seed=1)),
                        folder / "t.wav")
    vq_cfg = load_vqvae_config(vqvae_config)
    vq_cfg = vq_cfg.model_copy(update={"training": vq_cfg.training.model_copy(
        update={"steps": 1, "val_every": 1, "checkpoint_every": 1, "batch_size": 1})})
    vq = train_vqvae(vq_cfg, [str(track)], [str(track)], folder / "vq")
    tokenizer = load_tokenizer(vq.checkpoint)
    cfg = load_diffusion_config(diffusion_config)
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={
        "steps": 1, "val_every": 1, "checkpoint_every": 1, "val_renders": 0, "batch_size": 1,
        "crop_latents": 64, "val_crops": 1})})
    n = 40
    rng = np.random.default_rng(0)
    pairs = [LatentPair(f"p{i}", rng.normal(size=(cfg.model.latent_dim, 256)).astype(np.float32),
                        Performance(f"p{i}", 30.0, 0.0, rng.normal(size=(n, 2, 25)).astype(np.float32),
                                    np.ones((n, 2), bool), np.zeros(n, np.int32)), 0.0,
                        VQVAEModelConfig().latent_rate)
             for i in range(2)]
    result = train_diffusion(cfg, EchelonConfig(), pairs[:1], pairs[1:], folder / "diffusion",
                             extra_state={"latent_scale": 1.0, "vqvae_version": tokenizer.version})
    return result.checkpoint, vq.checkpoint


def performances(folder: Path, count: int, seconds: float) -> Path:
    for i in range(count):
        bpm = 100.0 + 3 * i
        bars = max(1, int(np.ceil(seconds / (4 * 60.0 / bpm))))
        track = render(TrackSpec(bpm=bpm, sections=(SectionSpec("groove", bars),), seed=i))
        motion = dance(track, np.random.default_rng(i), 100.0)
        write_performance(motion, folder / "performances" / f"show_{i:02d}.parquet")
    return folder / "performances"


def measure(folder: Path, show: Path, diffusion: Path, vqvae: Path, device: str,
            batch_sizes: list[int], sampler: SamplerConfig) -> list[tuple]:
    models = load_render_models(diffusion, vqvae, device)
    paths = find_performances(show)
    rows = []
    for batch in batch_sizes:
        config = RenderConfig(chunk_s=6.0, overlap_s=1.0, batch_size=batch, sampler=sampler)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        outcome = render_performances(paths, folder / f"out_{device}_{batch}", models, config)
        wall = time.perf_counter() - start
        audio = sum(r.duration_s for r in outcome.records)
        stages = np.array([[getattr(r, s) for s in STAGES] for r in outcome.records]).sum(0)
        rows.append((device, batch, audio, wall, stages / stages.sum()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--performances", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each performance")
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps")
    args = parser.parse_args()
    console = Console(width=150)  # the table is wide; keep it whole in logs too
    sampler = SamplerConfig(kind="ddim", steps=args.steps, guidance_scale=2.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        show = performances(folder, args.performances, args.seconds)
        tiny = checkpoints(folder / "tiny", CONFIG_DIR / "tiny" / "diffusion.yaml",
                           CONFIG_DIR / "tiny" / "vqvae.yaml")
        console.print(f"[dim]{args.performances} performances of ≈{args.seconds:g} s, 6 s chunks "
                      f"with 1 s overlap, DDIM-{args.steps} with guidance[/dim]")
        rows += [("tiny", *r) for r in measure(folder, show, *tiny, "cpu", [1, 4, 16], sampler)]
        if torch.cuda.is_available():
            full = checkpoints(folder / "full", CONFIG_DIR / "diffusion.yaml",
                               CONFIG_DIR / "vqvae.yaml")
            rows += [("full", *r) for r in measure(folder, show, *full, "cuda", [1, 4, 16],
                                                   SamplerConfig(kind="ddim", steps=50,
                                                                 guidance_scale=3.0))]
    table = Table(title="echelon render: seconds of audio per second of wall time")
    for column in ("model", "device", "batch", "audio (s)", "wall (s)", "s audio / s",
                   "vs batch 1", "conditioning", "sampling", "decoding", "writing"):
        table.add_column(column, justify="right")
    base = {(m, d): a / w for m, d, b, a, w, _ in rows if b == 1}
    for model, device, batch, audio, wall, shares in rows:
        rate = audio / wall
        table.add_row(model, device, str(batch), f"{audio:.1f}", f"{wall:.1f}", f"{rate:.3f}",
                      f"{rate / base[(model, device)]:.2f}×", *(f"{s:.1%}" for s in shares))
    console.print(table)
    if not torch.cuda.is_available():
        console.print("(no CUDA device here: the full-size rows need a machine with one)")


if __name__ == "__main__":
    main()
