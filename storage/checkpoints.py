"""Model checkpoints: written whole, read with `weights_only=True`, errors that say what is wrong.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads without
unpickling arbitrary objects.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from storage.atomic import atomic_path


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not the kind that was asked for."""


def save_checkpoint(state: dict, path: Path | str) -> Path:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: Path | str, kind: str, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint at `path`; it must have been saved with `"kind": kind`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises pickle, zip, EOF and runtime errors alike
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first[:200]})") from error
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: expected a {kind} checkpoint, found {found!r}")
    return state


def weights_version(model_state: dict[str, torch.Tensor]) -> str:
    """A short hash of the weights: tokens record which model made them."""
    digest = hashlib.blake2b(digest_size=6)
    for name in sorted(model_state):
        digest.update(name.encode())
        digest.update(model_state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
