"""The diffusion model: full-size cost, sampler speed, and whether it listens to the motion.

1. Full-size configs (configs/diffusion.yaml, U-Net and DiT): parameters and the time of one
   denoiser step on 1,024 latent frames (≈1.5 s of audio), batch 2 (guidance), CPU and CUDA.
2. Seconds of audio generated per second of wall time, DDIM-50 vs DPM-Solver++-20, full-size
   U-Net with guidance on 256 latent frames (sampling only; VQ-VAE decoding excluded).
3. Conditioning: generated tracks at two tempi with performances dancing to them (each
   training track danced by several dancers, each moving with a style of its own); the tiny
   VQ-VAE and the tiny diffusion model are trained on those pairs, then new dancers' performances
   to new tracks at each tempo are rendered by `echelon render`'s path (6 s chunks, overlaps
   inpainted and cross-faded) and the project's own beat tracker measures the audio's tempo. A
   render counts when its tempo is within 4 % of its motion's tempo; the anchor is the same
   model given the motion of the other tempo (what ignoring the motion would score).

Usage: .venv/bin/python bench/diffusion.py [--skip-full] [--vqvae-steps 200]
       [--diffusion-steps 2000] [--samples 4] [--dancers 4] [--crop-latents 512]
       [--backbone unet|dit] [--guidance 1 2]
The defaults take about 13 minutes on 2 CPU cores, 7 of them training the tiny diffusion
model (--skip-full: about 11). Fewer steps or dancers follow the motion less reliably.
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

from echelon_models.diffusion import MotionBatch  # noqa: E402
from synthetic.performances import dance, write_performance  # noqa: E402
from synthetic.tracks import SectionSpec, TrackSpec, render, write_track  # noqa: E402
from tasks.analysis.track import analyze_track  # noqa: E402
from tasks.config import (CONFIG_DIR, EchelonConfig, RenderConfig,  # noqa: E402
                          load_diffusion_config, load_vqvae_config)
from tasks.evaluation.rhythm import tempo_following  # noqa: E402
from tasks.models.builders import build_denoiser, load_tokenizer  # noqa: E402
from tasks.models.generation import generate_latents  # noqa: E402
from tasks.models.tokenizer import tokenize_file  # noqa: E402
from tasks.motion.recording import load_performance  # noqa: E402
from tasks.render.models import load_render_models  # noqa: E402
from tasks.render.plan import find_performances  # noqa: E402
from tasks.render.run import render_performances  # noqa: E402
from tasks.training.diffusion import train_diffusion  # noqa: E402
from tasks.training.latent_pairs import LatentPair, latent_scale, latents_of  # noqa: E402
from tasks.training.vqvae import train_vqvae  # noqa: E402

TEMPI = (100.0, 130.0)
CLOCK = 100.0  # the phones' clock at the start of the audio


def dummy_motion(batch: int, n_latents: int, echelon: EchelonConfig) -> MotionBatch:
    n = n_latents // 20 + 3
    return MotionBatch(torch.randn(batch, n, 2, echelon.window, 25),
                       torch.ones(batch, n, 2, dtype=torch.bool), torch.zeros(batch, n, echelon.window),
                       torch.linspace(0, n - 1, n_latents).long().expand(batch, -1))


def full_size_rows(devices: list[str]) -> tuple[list[tuple], list[tuple]]:
    cfg, echelon = load_diffusion_config(), EchelonConfig()
    steps_rows, sampler_rows = [], []
    length = 1024
    seconds = length * 64 / 44100
    for backbone in ("unet", "dit"):
        c = cfg.model_copy(update={"model": cfg.model.model_copy(update={"backbone": backbone})})
        for device in devices:
            torch.manual_seed(0)
            model = build_denoiser(c, echelon).to(device).eval()
            params = sum(p.numel() for p in model.backbone.parameters())
            x = torch.randn(2, c.model.latent_dim, length, device=device)
            cond = torch.randn(2, length, 256, device=device)
            t = torch.tensor([500.0, 500.0], device=device)
            with torch.no_grad():
                model(x, t, cond)
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(2):
                    model(x, t, cond)
                if device == "cuda":
                    torch.cuda.synchronize()
            steps_rows.append((backbone, device, params, (time.perf_counter() - start) / 2))
            if backbone != "unet":
                continue
            # a quarter of the length for the sampler runs: 70 full-size steps on a CPU take
            # minutes (the rate per second of audio hardly depends on the length)
            short = length // 4
            motion = dummy_motion(1, short, echelon)
            for kind, n in (("ddim", 50), ("dpm_solver", 20)):
                sampler_cfg = c.sampler.model_copy(update={"kind": kind, "steps": n})
                start = time.perf_counter()
                generate_latents(model, motion, short, c.noise, sampler_cfg,
                                 torch.Generator().manual_seed(0))
                wall = time.perf_counter() - start
                sampler_rows.append((f"{kind} ({n} steps)", device, seconds / 4 / wall))
    return steps_rows, sampler_rows


def training_data(folder: Path, dancers: int) -> tuple[list[str], list[tuple[int, str]]]:
    """Six tracks at the two tempi and the performances danced to them: (track paths,
    (track index, performance path))."""
    tracks, performances = [], []
    arrangements = (("groove", "drop"), ("build", "groove"), ("drop", "groove"))
    for i in range(6):
        a, b = arrangements[i % 3]
        spec = TrackSpec(bpm=TEMPI[i % 2], sections=(SectionSpec(a, 8), SectionSpec(b, 8)),
                         seed=500 + i)
        track = render(spec)
        tracks.append(str(write_track(track, folder / f"t{i}.wav")))
        # tracks 0-3 train; each is danced by several dancers (each dancer moves with its own
        # mix of the LatentState), so the encoder learns the beat, not one dancer's style
        for d in range(dancers if i < 4 else 1):
            motion = dance(track, np.random.default_rng(600 + i + 1000 * d), CLOCK)
            performances.append((i, str(write_performance(motion, folder / f"t{i}_{d}.parquet"))))
    return tracks, performances


def conditioning_rows(folder: Path, vqvae_steps: int, diffusion_steps: int, samples: int,
                      crop_latents: int, backbone: str, guidance: list[float], dancers: int,
                      console: Console) -> tuple[list[tuple], float, float]:
    """(rows, training seconds, held-out motion_gain)."""
    echelon = EchelonConfig()
    tracks, performances = training_data(folder, dancers)
    console.print(f"[dim]training the tiny VQ-VAE ({vqvae_steps} steps)…[/dim]")
    vq_cfg = load_vqvae_config(CONFIG_DIR / "tiny" / "vqvae.yaml")
    vq_cfg = vq_cfg.model_copy(update={"training": vq_cfg.training.model_copy(
        update={"steps": vqvae_steps, "val_every": vqvae_steps, "checkpoint_every": vqvae_steps})})
    vq = train_vqvae(vq_cfg, tracks[:5], tracks[5:], folder / "vq")
    tokenizer = load_tokenizer(vq.checkpoint)
    sequences = [tokenize_file(tokenizer, p) for p in tracks]
    codebook = tokenizer.model.quantizer.embed.numpy()
    scale = latent_scale(sequences, codebook)
    pairs = [LatentPair(Path(path).stem, latents_of(sequences[i], codebook, scale),
                        load_performance(path, echelon.motion), -CLOCK,
                        tokenizer.model.codes_per_second)
             for i, path in performances]
    train, held_out = pairs[:4 * dancers], pairs[4 * dancers:]

    console.print(f"[dim]training the tiny diffusion model ({backbone}, {diffusion_steps} "
                  f"steps, {len(train)} pairs: 4 tracks × {dancers} dancers)…[/dim]")
    cfg = load_diffusion_config(CONFIG_DIR / "tiny" / "diffusion.yaml")
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"backbone": backbone}),
                                 "training": cfg.training.model_copy(update={
        "steps": diffusion_steps, "crop_latents": crop_latents, "val_every": diffusion_steps,
        "checkpoint_every": diffusion_steps, "val_renders": 0})})
    start = time.perf_counter()
    result = train_diffusion(cfg, echelon, train, held_out, folder / "diffusion",
                             extra_state={"latent_scale": scale,
                                          "vqvae_version": tokenizer.version})
    train_s = time.perf_counter() - start
    models = load_render_models(result.checkpoint, vq.checkpoint, "cpu")

    # new dancers on new tracks; "swap" gives each the motion of the other tempo
    for k in range(samples):
        for j, bpm in enumerate(TEMPI):
            for kind, motion_bpm in (("show", bpm), ("swap", TEMPI[1 - j])):
                source = render(TrackSpec(bpm=motion_bpm, sections=(SectionSpec("groove", 4),),
                                          seed=900 + k))
                write_performance(dance(source, np.random.default_rng(700 + k), CLOCK),
                                  folder / kind / f"s{k}_{bpm:g}.parquet")
    rows = []
    runs = [(f"echelon tiny diffusion, guidance {g:g}", "show", g) for g in guidance]
    runs.append((f"motion of the other tempo, guidance {guidance[0]:g}", "swap", guidance[0]))
    for label, kind, g in runs:
        render_config = RenderConfig(batch_size=16, sampler=cfg.sampler.model_copy(
            update={"guidance_scale": g}))
        out = folder / f"out_{kind}_{g:g}"
        outcome = render_performances(find_performances(folder / kind), out, models,
                                      render_config)
        hits, measured = 0, []
        for record in outcome.records:
            bpm = float(Path(record.performance).stem.split("_")[1])
            tempo = analyze_track(out / record.wav).tempo_bpm
            measured.append(tempo)
            hits += tempo_following(tempo, bpm)[0] == 1.0  # the evaluator's definition
        rows.append((label, hits, len(outcome.records), measured))
    return rows, train_s, result.validations[-1].motion_gain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-full", action="store_true", help="skip the full-size timings")
    parser.add_argument("--vqvae-steps", type=int, default=200)
    parser.add_argument("--diffusion-steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=4, help="rendered performances per tempo")
    parser.add_argument("--dancers", type=int, default=4,
                        help="dancers per training track (each with its own style)")
    parser.add_argument("--backbone", choices=("unet", "dit"), default="unet",
                        help="backbone of the tiny model in the conditioning test")
    parser.add_argument("--crop-latents", type=int, default=512,
                        help="training crop in latent frames (512 ≈ 0.74 s: about a beat)")
    parser.add_argument("--guidance", type=float, nargs="+", default=None,
                        help="guidance scales to generate with (default: the tiny config's)")
    args = parser.parse_args()
    console = Console()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if not args.skip_full:
        steps_rows, sampler_rows = full_size_rows(devices)
        table = Table(title="full-size denoiser: one step on 1,024 latent frames (≈1.5 s), batch 2")
        for column in ("backbone", "device", "parameters", "step (s)"):
            table.add_column(column, justify="right")
        for backbone, device, params, seconds in steps_rows:
            table.add_row(backbone, device, f"{params / 1e6:.1f} M", f"{seconds:.3f}")
        console.print(table)
        table = Table(title="full-size U-Net sampling with guidance (VQ-VAE decode excluded)")
        for column in ("sampler", "device", "s audio / s", "vs DDIM-50"):
            table.add_column(column, justify="right")
        base = {d: r for s, d, r in sampler_rows if s.startswith("ddim")}
        for sampler, device, rate in sampler_rows:
            table.add_row(sampler, device, f"{rate:.3f}", f"{rate / base[device]:.2f}×")
        console.print(table)
        if not torch.cuda.is_available():
            console.print("(no CUDA device here: GPU figures need a machine with one)")
    guidance = args.guidance or [
        load_diffusion_config(CONFIG_DIR / "tiny" / "diffusion.yaml").sampler.guidance_scale]
    with tempfile.TemporaryDirectory() as tmp:
        rows, train_s, motion_gain = conditioning_rows(
            Path(tmp), args.vqvae_steps, args.diffusion_steps, args.samples, args.crop_latents,
            args.backbone, guidance, args.dancers, console)
    console.print(f"[dim]diffusion training took {train_s:.0f} s; on held-out pairs the loss "
                  f"without the motion is {motion_gain:+.4f} higher[/dim]")
    table = Table(title=f"does the generated tempo follow the motion? ({TEMPI[0]:g} vs "
                        f"{TEMPI[1]:g} BPM motion, tempo within 4 %)")
    for column in ("audio generated from", "within 4 %", "share", "measured BPM"):
        table.add_column(column, justify="right")
    for label, hits, total, measured in rows:
        table.add_row(label, f"{hits}/{total}", f"{hits / total:.0%}",
                      " ".join(f"{m:.0f}" for m in measured))
    console.print(table)


if __name__ == "__main__":
    main()
