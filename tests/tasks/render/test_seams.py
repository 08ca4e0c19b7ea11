"""The seam measure finds a cut where there is one, and none where the audio flows on."""

import numpy as np

from tasks.render.seams import seam_ratio

RATE = 44100


def test_a_phase_jump_is_a_seam_and_a_continuous_tone_is_not():
    t = np.arange(2 * RATE) / RATE
    noise = 0.02 * np.random.default_rng(0).normal(size=len(t))
    smooth = 0.5 * np.sin(2 * np.pi * 220 * t) + noise
    cut = smooth.copy()
    cut[RATE:] = 0.5 * np.cos(2 * np.pi * 220 * t[RATE:]) + noise[RATE:]  # a quarter cycle off
    assert seam_ratio(smooth, [RATE], RATE) <= 1.0
    assert seam_ratio(cut, [RATE], RATE) > 3.0


def test_no_seams_and_silence():
    assert seam_ratio(np.ones(100), [], RATE) == 0.0
    assert np.isnan(seam_ratio(np.zeros(1000), [500], RATE))
