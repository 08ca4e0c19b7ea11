"""Diffusion training memory against the hours of motion-audio pairs: does it stream?

Each run trains the tiny diffusion model (configs/tiny/diffusion.yaml) for `--steps` steps on
synthetic pairs of 3 minutes each (random codes of a random 16-d codebook, random motion on
the 30 Hz clock), in a fresh process, and samples its resident memory (VmRSS) after every
step; the table gives the highest. Two ways of holding the pairs, side by side:

- echelon: what `train-diffusion` does now — latents made per crop from the codes
  (`CodedLatents`), codes and motion frames in memory-mapped files (`mapped`, `map_motion`);
- anchor: the way before — every pair's scaled latents and motion dense in memory.

Target (issue "Real recordings become training pairs"): echelon's peak at 20 h within 20 %
of its peak at 1 h. The offset accuracy part of this bench comes with the clock sync.

Usage: .venv/bin/python bench/pairs.py [--hours 1 20] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIR_S = 180.0
LATENT_RATE = 44100 / 64


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, hours: float, steps: int, folder: Path) -> dict:
    from storage.token_store import TokenSequence
    from tasks.config import CONFIG_DIR, EchelonConfig, load_diffusion_config
    from tasks.motion.recording import Performance
    from tasks.training.diffusion import train_diffusion
    from tasks.training.latent_pairs import LatentPair, latents_of, map_motion

    cfg = load_diffusion_config(CONFIG_DIR / "tiny" / "diffusion.yaml")
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={
        "steps": steps, "val_every": steps, "checkpoint_every": steps, "val_renders": 0})})
    echelon = EchelonConfig()
    rng = np.random.default_rng(0)
    codebook = rng.normal(size=(256, cfg.model.latent_dim)).astype(np.float32)
    n_pairs = int(round(hours * 3600 / PAIR_S))
    n_latents, n_frames = int(PAIR_S * LATENT_RATE), int(PAIR_S * 30)
    pairs = []
    for i in range(n_pairs):
        codes = rng.integers(0, 256, n_latents).astype(np.int16)
        performance = Performance(f"p{i}", 30.0, 0.0,
                                  rng.normal(size=(n_frames, 2, 25)).astype(np.float32),
                                  np.ones((n_frames, 2), bool), np.zeros(n_frames, np.int32))
        sequence = TokenSequence(f"h{i}", f"t{i}.wav", codes, "v", n_latents * 64, 44100)
        if mode == "echelon":
            latents = latents_of(sequence, codebook, 1.0, folder / "cache")
            performance = map_motion(performance, folder / "cache")
        else:
            latents = np.asarray(latents_of(sequence, codebook, 1.0))
        pairs.append(LatentPair(f"p{i}", latents, performance, 0.0, LATENT_RATE))
    before = rss_mb()
    samples = []
    start = time.perf_counter()
    train_diffusion(cfg, echelon, pairs[1:], pairs[:1], folder / f"ckpt-{mode}-{hours}",
                    on_step=lambda step, entry: samples.append(rss_mb()))
    return {"mode": mode, "hours": hours, "pairs": n_pairs, "rss_before_mb": before,
            "peak_step_rss_mb": max(samples), "s_per_step": (time.perf_counter() - start) / steps}


def measure(mode: str, hours: float, steps: int, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(hours), str(steps),
                          str(folder)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{mode} at {hours} h failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs=2, default=[1.0, 20.0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, hours, steps, folder = args.child
        print(json.dumps(child(mode, float(hours), int(steps), Path(folder))))
        return
    folder = Path(tempfile.mkdtemp(prefix="echelon-bench-pairs-"))
    small, large = args.hours
    runs = {(mode, h): measure(mode, h, args.steps, folder)
            for mode in ("echelon", "anchor") for h in (small, large)}
    rows = []
    for mode in ("echelon", "anchor"):
        a, b = runs[(mode, small)], runs[(mode, large)]
        ratio = b["peak_step_rss_mb"] / a["peak_step_rss_mb"]
        target = (f"≤ 1.20 {'met' if ratio <= 1.2 else 'NOT met'}" if mode == "echelon" else "—")
        rows.append((f"{mode}: peak RSS per step, MB", f"{a['peak_step_rss_mb']:.0f}",
                     f"{b['peak_step_rss_mb']:.0f}", f"{ratio:.2f}×", target,
                     f"{a['s_per_step']:.2f} / {b['s_per_step']:.2f}"))
    header = ("diffusion training", f"{small:g} h ({runs[('echelon', small)]['pairs']} pairs)",
              f"{large:g} h ({runs[('echelon', large)]['pairs']} pairs)", "ratio", "target",
              "s/step")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    e, d = runs[("echelon", large)], runs[("anchor", large)]
    print(f"at {large:g} h: echelon {e['peak_step_rss_mb']:.0f} MB vs anchor "
          f"{d['peak_step_rss_mb']:.0f} MB ({e['peak_step_rss_mb'] / d['peak_step_rss_mb']:.2f}×)")


if __name__ == "__main__":
    main()
