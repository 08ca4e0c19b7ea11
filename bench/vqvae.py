"""The VQ-VAE tokenizer: full-size cost, and what the tiny model learns on a fixed CPU budget.

1. Full-size model (configs/vqvae.yaml): parameters, and seconds of audio tokenized (encode)
   and decoded per second of wall time, through the chunked path `echelon tokenize` uses.
   On this CPU; on CUDA too when one is present.
2. Tiny model (configs/tiny/vqvae.yaml) trained for a fixed number of steps on generated
   tracks, then measured on crops of held-out tracks: log-mel distance (lower is better) and
   SI-SDR (higher is better), side by side with two trivial codecs at the same bitrate:
   silence, and 8-bit mu-law at the sample rate that gives the tokenizer's bits per second
   (689 codes/s × log2(codebook) bits).

Usage: .venv/bin/python bench/vqvae.py [--steps 300] [--tracks 6] [--seconds 30]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from echelon_models.vqvae import MelDistance, si_sdr  # noqa: E402
from storage.stamps import content_hash  # noqa: E402
from synthetic.tracks import random_spec, render, write_track  # noqa: E402
from tasks.analysis.audio import load_audio, resample  # noqa: E402
from tasks.config import CONFIG_DIR, load_vqvae_config  # noqa: E402
from tasks.models.builders import build_vqvae  # noqa: E402
from tasks.models.tokenizer import Tokenizer, decode, encode  # noqa: E402
from tasks.training.audio_crops import AudioCrops  # noqa: E402
from tasks.training.common import held_out_split  # noqa: E402
from tasks.training.vqvae import train_vqvae  # noqa: E402


def speed_rows(samples: np.ndarray, sample_rate: int) -> list[tuple]:
    cfg = load_vqvae_config()
    torch.manual_seed(0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        model = build_vqvae(cfg.model).to(device).eval()
        tokenizer = Tokenizer(model, "bench", cfg.tokenize.chunk_s)
        encode(tokenizer, samples[:sample_rate])  # warm-up
        start = time.perf_counter()
        codes = encode(tokenizer, samples)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decode(tokenizer, codes, len(samples))
        decode_s = time.perf_counter() - start
        seconds = len(samples) / sample_rate
        rows.append((device, sum(p.numel() for p in model.parameters()), seconds / encode_s,
                     seconds / decode_s, len(codes) / seconds))
    return rows


def mu_law_codec(crop: np.ndarray, sample_rate: int, low_rate: int) -> np.ndarray:
    """8-bit mu-law at `low_rate`, back to `sample_rate` at the same length."""
    low = resample(crop, sample_rate, low_rate)
    coded = librosa.mu_compress(np.clip(low, -1, 1), mu=255, quantize=True)
    back = resample(librosa.mu_expand(coded, mu=255, quantize=True).astype(np.float32),
                    low_rate, sample_rate)
    out = np.zeros_like(crop)
    out[:min(len(back), len(crop))] = back[:len(crop)]
    return out


def quality_rows(paths: list[str], steps: int, folder: Path) -> tuple[list[tuple], dict]:
    cfg = load_vqvae_config(CONFIG_DIR / "tiny" / "vqvae.yaml")
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(
        update={"steps": steps, "val_every": steps, "checkpoint_every": steps})})
    train, val = held_out_split([(p, content_hash(p)) for p in paths], cfg.training.val_share)
    start = time.perf_counter()
    result = train_vqvae(cfg, train, val, folder / "tiny", device="cpu")
    train_s = time.perf_counter() - start
    model = build_vqvae(cfg.model)
    state = torch.load(result.checkpoint, weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()

    sr = cfg.model.sample_rate
    hop = model.hop
    crops = AudioCrops(val, sr, hop * int(sr / hop)).fixed(16)  # 16 crops of ≈1 s
    bits = math.log2(cfg.model.codebook_size) * sr / hop
    low_rate = int(round(bits / 8))
    mel = MelDistance(sr)
    reference = torch.from_numpy(crops).unsqueeze(1)
    with torch.no_grad():
        tokenized = model(reference).wave[..., :crops.shape[1]]
    candidates = {
        f"echelon tiny VQ-VAE ({steps} steps)": tokenized,
        "silence": torch.zeros_like(reference),
        f"8-bit mu-law at {low_rate} Hz": torch.from_numpy(
            np.stack([mu_law_codec(c, sr, low_rate) for c in crops])).unsqueeze(1),
    }
    rows = [(name, float(mel(wave, reference)), float(si_sdr(wave, reference).mean()))
            for name, wave in candidates.items()]
    info = {"bits_per_second": bits, "train_s": train_s, "train_tracks": len(train),
            "val_tracks": len(val)}
    return rows, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="tiny-model training steps")
    parser.add_argument("--tracks", type=int, default=6, help="generated tracks")
    parser.add_argument("--seconds", type=float, default=30.0, help="audio timed for speed")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(args.seed)
        paths = [str(write_track(render(random_spec(rng, duration_range_s=(30.0, 50.0))),
                                 folder / f"track_{i:02d}.wav")) for i in range(args.tracks)]
        audio = np.concatenate([load_audio(p).samples for p in paths])
        samples = audio[:int(args.seconds * 44100)]
        speed = speed_rows(samples, 44100)
        quality, info = quality_rows(paths, args.steps, folder)

    table = Table(title=f"full-size VQ-VAE (configs/vqvae.yaml), {args.seconds:g} s of audio, "
                        f"{torch.get_num_threads()} CPU threads")
    for column in ("device", "parameters", "tokenize (s audio / s)", "decode (s audio / s)",
                   "codes per second"):
        table.add_column(column, justify="right")
    for device, params, enc, dec, cps in speed:
        table.add_row(device, f"{params / 1e6:.2f} M", f"{enc:.1f}", f"{dec:.1f}", f"{cps:.1f}")
    console.print(table)
    if not torch.cuda.is_available():
        console.print("(no CUDA device here: GPU figures need a machine with one)")

    table = Table(title=f"tiny VQ-VAE after {args.steps} CPU steps ({info['train_s']:.0f} s), "
                        f"{info['train_tracks']} training / {info['val_tracks']} held-out tracks, "
                        f"{info['bits_per_second'] / 1000:.2f} kbit/s")
    for column in ("codec", "mel distance ↓", "× silence", "SI-SDR (dB) ↑"):
        table.add_column(column, justify="right")
    silence = quality[1][1]
    for name, distance, sdr in quality:
        table.add_row(name, f"{distance:.3f}", f"{distance / silence:.2f}", f"{sdr:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
