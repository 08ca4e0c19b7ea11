"""Conditioning windows: what the encoder sees for each frame, and which frame each latent gets.

The encoder runs once per motion frame (30 Hz); the diffusion model wants one vector per
VQ-VAE latent frame (its config's `latent_rate`: 44,100 / 64 ≈ 689 Hz at full size). Each
latent frame takes the motion frame nearest to its own time, so a motion event at time t
conditions the latent frame of time t.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def warped_motion_for_latents(performance: Performance, start_s: float, n_latents: int,
                              motion: MotionConfig, latent_rate: float, n_motion: int,
                              warp: float, noise: np.ndarray | None = None,
                              dropped: int | None = None,
                              ) -> tuple[ConditioningInputs, np.ndarray]:
    """`motion_for_latents` on a clock stretched by `warp` (> 1: the dancing plays faster).
    Latent j stands for recording time start_s + j·warp / latent_rate, and the motion is
    resampled (linearly) onto the same clock: its frame k is recording time
    start_s + k·warp / frame_rate. A motion event at recording time t therefore lands on the
    latent frame of (t − start_s) / warp, where the warped latents have it too.
    `noise` (n_motion + past + future, D, 25) is added to the resampled frames (sensor noise);
    phone `dropped` is marked absent."""
    rate, past, future = performance.frame_rate, motion.window_past, motion.window_future
    k = np.arange(-past, n_motion + future)  # the stretched frames the windows read
    q = np.clip((start_s - performance.start_s) * rate + k * warp, 0, performance.n_frames - 1)
    below = np.floor(q).astype(np.int64)
    above = np.minimum(below + 1, performance.n_frames - 1)
    share = (q - below)[:, None, None].astype(np.float32)
    frames = performance.frames[below] * (1 - share) + performance.frames[above] * share
    if noise is not None:
        frames = frames + noise
    nearest = np.floor(q + 0.5).astype(np.int64)
    present = np.array(performance.present[nearest])
    if dropped is not None:
        present[:, dropped] = False
    local = replace(performance, frames=frames.astype(np.float32), present=present,
                    sections=performance.sections[nearest])
    inputs = conditioning_inputs(local, np.arange(past, past + n_motion), past, future)
    frame_of_latent = np.floor(np.arange(n_latents) * rate / latent_rate + 0.5)
    return inputs, np.minimum(frame_of_latent, n_motion - 1).astype(np.int64)


def motion_batch(items: list[tuple[ConditioningInputs, np.ndarray]]) -> MotionBatch:
    """Stack equal-sized encoder inputs into one batch."""
    return MotionBatch(
        torch.from_numpy(np.stack([i.windows for i, _ in items])),  # (B, N, D, W, 25)
        torch.from_numpy(np.stack([i.present for i, _ in items])),  # (B, N, D)
        torch.from_numpy(np.stack([i.transitions for i, _ in items])),  # (B, N, W)
        torch.from_numpy(np.stack([f for _, f in items])).long())  # (B, L)
