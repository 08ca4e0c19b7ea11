"""Conditioning windows: what the encoder sees for each frame, and which frame each latent gets.

The encoder runs once per motion frame (30 Hz); the diffusion model wants one vector per
VQ-VAE latent frame (its config's `latent_rate`: 44,100 / 64 ≈ 689 Hz at full size). Each
latent frame takes the motion frame nearest to its own time, so a motion event at time t
conditions the latent frame of time t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from echelon_models.diffusion import MotionBatch
from tasks.config import MotionConfig
from tasks.motion.recording import Performance


@dataclass(frozen=True)
class ConditioningInputs:
    """The encoder's inputs for N frames."""

    windows: np.ndarray  # (N, D, W, 25) float32: each device's window around the frame
    present: np.ndarray  # (N, D) bool: the device was recording at the frame
    transitions: np.ndarray  # (N, W) float32: 1 where the section changes inside the window

    def __len__(self) -> int:
        return len(self.windows)


def window_indices(centers: np.ndarray, n_frames: int, past: int = 30,
                   future: int = 15) -> np.ndarray:
    """(N,) frame indices → (N, past + 1 + future) indices, held at the first/last frame."""
    offsets = np.arange(-past, future + 1)
    return np.clip(np.asarray(centers)[:, None] + offsets[None, :], 0, n_frames - 1)


def section_changes(sections: np.ndarray) -> np.ndarray:
    """(T,) section labels → (T,) float32, 1 at a frame whose known section differs from the
    previous frame's."""
    change = np.zeros(len(sections), np.float32)
    if len(sections) > 1:
        known = (sections[1:] >= 0) & (sections[:-1] >= 0)
        change[1:] = (known & (sections[1:] != sections[:-1])).astype(np.float32)
    return change


def conditioning_inputs(performance: Performance, centers: np.ndarray | None = None,
                        past: int = 30, future: int = 15) -> ConditioningInputs:
    """Windows around `centers` (default: every frame) of a performance."""
    n = performance.n_frames
    centers = np.arange(n) if centers is None else np.asarray(centers)
    index = window_indices(centers, n, past, future)  # (N, W)
    windows = performance.frames[index].transpose(0, 2, 1, 3)  # (N, W, D, 25) → (N, D, W, 25)
    transitions = section_changes(performance.sections)[index]
    return ConditioningInputs(np.ascontiguousarray(windows, dtype=np.float32),
                              performance.present[centers], transitions)


def latent_frame_times(n_latents: int, start_s: float, latent_rate: float) -> np.ndarray:
    return start_s + np.arange(n_latents) / latent_rate


def frames_for_latents(n_latents: int, start_s: float, performance: Performance,
                       latent_rate: float) -> np.ndarray:
    """(n_latents,) motion frame index for latent frames starting at recording time `start_s`:
    the frame nearest in time, held at the recording's ends."""
    times = latent_frame_times(n_latents, start_s, latent_rate)
    nearest = np.floor((times - performance.start_s) * performance.frame_rate + 0.5)
    return np.clip(nearest, 0, performance.n_frames - 1).astype(np.int64)


def motion_for_latents(performance: Performance, start_s: float, n_latents: int,
                       motion: MotionConfig, latent_rate: float,
                       n_motion: int | None = None) -> tuple[ConditioningInputs, np.ndarray]:
    """Encoder inputs for the motion frames under `n_latents` latent frames starting at
    recording time `start_s`, and each latent's index into them. `n_motion` fixes how many
    frames are returned (held at the recording's end) so that crops batch."""
    frames = frames_for_latents(n_latents, start_s, performance, latent_rate)  # (L,)
    lo = int(frames[0])
    count = n_motion or int(frames[-1]) - lo + 1
    centers = np.minimum(np.arange(lo, lo + count), performance.n_frames - 1)
    inputs = conditioning_inputs(performance, centers, motion.window_past, motion.window_future)
    return inputs, frames - lo


def motion_batch(items: list[tuple[ConditioningInputs, np.ndarray]]) -> MotionBatch:
    """Stack equal-sized encoder inputs into one batch."""
    return MotionBatch(
        torch.from_numpy(np.stack([i.windows for i, _ in items])),  # (B, N, D, W, 25)
        torch.from_numpy(np.stack([i.present for i, _ in items])),  # (B, N, D)
        torch.from_numpy(np.stack([i.transitions for i, _ in items])),  # (B, N, W)
        torch.from_numpy(np.stack([f for _, f in items])).long())  # (B, L)
