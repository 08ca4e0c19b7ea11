"""What every training loop here shares: device, schedule, mixed precision, held-out split,
and the error that stops a run whose numbers went bad."""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch


class TrainingDiverged(RuntimeError):
    """Loss or gradients became NaN/Inf; the last good checkpoint is kept as it was."""


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` if given, else CUDA when available, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mixed_precision(device: torch.device):
    """bfloat16 autocast on CUDA (no loss scaling needed); full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def warmup_cosine(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to `floor` at `total`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def held_out_split(tracks: list[tuple[str, str]], share: float,
                   ) -> tuple[list[str], list[str]]:
    """(path, content_hash) pairs → (train paths, validation paths). Chosen by content hash, so
    the split does not move when files are renamed or others are added in between; at least
    one track on each side."""
    if len(tracks) < 2:
        raise ValueError(f"training needs at least 2 analysed tracks (one held out), "
                         f"found {len(tracks)}")
    ordered = sorted(tracks, key=lambda t: t[1])
    n_val = min(len(ordered) - 1, max(1, round(share * len(ordered))))
    val = sorted(p for p, _ in ordered[:n_val])
    train = sorted(p for p, _ in ordered[n_val:])
    return train, val


def is_finite(value: torch.Tensor) -> bool:
    return bool(torch.isfinite(value).all())


def diverged(step: int, what: str, checkpoint: Path) -> TrainingDiverged:
    kept = (f"the last good checkpoint {checkpoint} is kept" if checkpoint.is_file()
            else "no checkpoint had been written yet")
    return TrainingDiverged(f"training stopped at step {step}: the {what} became NaN or "
                            f"infinite; {kept}. Try a lower learning rate or a smaller grad_clip.")


def step_generators(seed: int, step: int, part: int = 0) -> tuple[np.random.Generator, torch.Generator]:
    """The randomness of one training step, a function of (seed, step) only: a resumed run
    draws exactly what the uninterrupted run drew."""
    return (np.random.default_rng([seed, step, part]),
            torch.Generator().manual_seed((seed * 1_000_003 + step) * 131 + part))


def progress_state(optimizer, scheduler, result) -> dict:
    """The part of a checkpoint that lets a run resume on the same curve: optimiser, schedule,
    step count, loss history and validations (`result` has steps, history, validations)."""
    return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "step": result.steps, "history": result.history,
            "validations": [asdict(v) for v in result.validations]}


def restore_progress(state: dict, optimizer, scheduler, result, validation_type) -> None:
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    result.steps = int(state["step"])
    result.history = list(state["history"])
    result.validations = [validation_type(**v) for v in state["validations"]]
