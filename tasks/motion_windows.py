"""Conditioning windows: what the encoder sees for each frame, and which frame each latent gets.

The encoder runs once per motion frame (30 Hz); the diffusion model wants one vector per
VQ-VAE latent frame (44,100 / 64 ≈ 689 Hz). Each latent frame takes the motion frame nearest
to its own time, so a motion event at time t conditions the latent frame of time t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.motion import Performance

LATENT_RATE_HZ = 44100 / 64  # the VQ-VAE's latent frames per second at 44.1 kHz


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


def latent_frame_times(n_latents: int, start_s: float = 0.0,
                       latent_rate: float = LATENT_RATE_HZ) -> np.ndarray:
    return start_s + np.arange(n_latents) / latent_rate


def frames_for_latents(n_latents: int, start_s: float, performance: Performance,
                       latent_rate: float = LATENT_RATE_HZ) -> np.ndarray:
    """(n_latents,) motion frame index for latent frames starting at recording time `start_s`:
    the frame nearest in time, held at the recording's ends."""
    times = latent_frame_times(n_latents, start_s, latent_rate)
    nearest = np.floor((times - performance.start_s) * performance.frame_rate + 0.5)
    return np.clip(nearest, 0, performance.n_frames - 1).astype(np.int64)
