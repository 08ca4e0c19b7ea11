"""Windows at the edges, and latent frames that land on the motion of their own time."""

import numpy as np
import pytest

from tasks.config import VQVAEModelConfig
from tasks.motion.recording import Performance
from tasks.motion.windows import (conditioning_inputs, frames_for_latents, section_changes,
                                  window_indices)

LATENT_RATE_HZ = VQVAEModelConfig().latent_rate


def performance(n: int = 100, rate: float = 30.0, start_s: float = 5.0) -> Performance:
    frames = np.zeros((n, 2, 25), np.float32)
    frames[:, :, 0] = np.arange(n)[:, None]  # z0 holds the frame number
    present = np.ones((n, 2), bool)
    present[60:, 1] = False
    sections = np.where(np.arange(n) < 40, 0, 1).astype(np.int32)
    return Performance("p.parquet", rate, start_s, frames, present, sections, ("a", "b"))


def test_window_is_past_current_future_held_at_the_edges():
    index = window_indices(np.array([0, 50, 99]), 100)
    assert index.shape == (3, 46)
    assert list(index[0, :31]) == [0] * 31 and list(index[0, 31:]) == list(range(1, 16))
    assert list(index[1]) == list(range(20, 66))
    assert list(index[2, 30:]) == [99] * 16 and index[2, 0] == 69


def test_conditioning_inputs_shapes_and_contents():
    inputs = conditioning_inputs(performance(), np.array([0, 45, 70]))
    assert inputs.windows.shape == (3, 2, 46, 25) and inputs.windows.dtype == np.float32
    assert inputs.windows[1, 0, 30, 0] == 45  # the current frame sits at index 30
    assert inputs.windows[1, 1, 0, 0] == 15 and inputs.windows[1, 1, 45, 0] == 60
    assert inputs.present.tolist() == [[True, True], [True, True], [True, False]]
    # the section change at frame 40 is 5 frames before frame 45's current position
    assert np.flatnonzero(inputs.transitions[1]).tolist() == [25]
    assert not inputs.transitions[0].any()
    assert np.flatnonzero(inputs.transitions[2]).tolist() == [0]  # frame 70 sees 40 … 85


def test_section_changes_ignore_unknown_labels():
    assert section_changes(np.array([-1, 0, 0, 1, -1, 1])).tolist() == [0, 0, 0, 1, 0, 0]


def test_latent_frames_take_the_motion_frame_of_their_own_time():
    perf = performance(start_s=5.0)
    n = int(3 * LATENT_RATE_HZ)
    frames = frames_for_latents(n, start_s=5.0, performance=perf,
                                latent_rate=LATENT_RATE_HZ)
    latent_times = 5.0 + np.arange(n) / LATENT_RATE_HZ
    motion_times = perf.start_s + frames / perf.frame_rate
    assert np.abs(latent_times - motion_times).max() <= 0.5 / 30 + 1e-9
    assert len(frames) == n and frames[0] == 0
    # ≈ 689 latent frames per second: 22.97 latent frames per 30 Hz motion frame
    assert np.bincount(frames)[1:-1].min() in (22, 23)


def test_latent_frames_before_and_after_the_recording_are_held():
    frames = frames_for_latents(100, start_s=0.0, performance=performance(start_s=5.0),
                               latent_rate=LATENT_RATE_HZ)
    assert set(frames) == {0}
    late = frames_for_latents(100, start_s=60.0, performance=performance(start_s=5.0),
                               latent_rate=LATENT_RATE_HZ)
    assert set(late) == {99}


def test_latent_rate_is_the_vqvae_rate():
    assert LATENT_RATE_HZ == pytest.approx(689.0625)
    assert VQVAEModelConfig(strides=(4, 4, 2)).latent_rate == pytest.approx(1378.125)
