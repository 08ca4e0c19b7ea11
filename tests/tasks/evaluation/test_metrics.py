"""Each metric on constructed cases whose answer is known."""

import math

import numpy as np
import pytest

from tasks.evaluation.distribution import frechet_distance, kernel_audio_distance, with_interval
from tasks.evaluation.level import clipping_share, integrated_lufs, silence_share
from tasks.evaluation.rhythm import (beat_align_score, beat_f_measure, motion_accents,
                                     onset_coverage_hit, tempo_following)
from tasks.motion.recording import Performance


def pulse_performance(beats: np.ndarray, duration_s: float, start_s: float = 100.0,
                      rate: float = 30.0) -> Performance:
    """Two phones whose speed peaks at `beats` (audio seconds = recording time − start_s):
    velocity is a 40 ms Gaussian pulse at each beat, alternating in direction."""
    t = np.arange(int(duration_s * rate)) / rate
    rng = np.random.default_rng(0)
    direction = rng.normal(size=25)
    cdf = np.array([0.5 * (1 + math.erf((x - b) / (0.04 * math.sqrt(2))))
                    for x in t for b in beats]).reshape(len(t), len(beats))
    position = (cdf * np.where(np.arange(len(beats)) % 2, -1.0, 1.0)).sum(axis=1)
    frames = np.repeat((position[:, None] * direction)[:, None, :], 2, axis=1).astype(np.float32)
    return Performance("pulses", rate, start_s, frames, np.ones((len(t), 2), bool),
                       np.zeros(len(t), np.int32))


def test_motion_accents_are_the_speed_peaks_on_the_audio_clock():
    beats = 0.5 + np.arange(16) * 0.5  # 120 BPM
    accents = motion_accents(pulse_performance(beats, 9.0), offset_s=-100.0)
    assert len(accents) == len(beats)
    assert np.abs(accents - beats).max() < 0.012  # within a third of a 30 Hz frame


def test_a_100_ms_shift_lowers_beat_alignment_as_sigma_predicts():
    beats = np.arange(20) * 0.5
    assert beat_align_score(beats, beats) == pytest.approx(1.0)
    # exp(−d²/2σ²) with d = 100 ms and σ = 50 ms
    assert beat_align_score(beats + 0.1, beats) == pytest.approx(math.exp(-2.0), rel=1e-9)
    assert beat_align_score(beats + 0.1, beats, sigma_ms=100.0) == pytest.approx(math.exp(-0.5))
    assert beat_f_measure(beats + 0.05, beats) == pytest.approx(1.0)  # inside ±70 ms
    assert beat_f_measure(beats + 0.1, beats) == 0.0
    assert math.isnan(beat_align_score(np.zeros(0), beats))


def test_tempo_following_counts_octave_errors_apart():
    assert tempo_following(121.0, 120.0) == (1.0, False)
    assert tempo_following(240.0, 120.0) == (0.0, True)
    assert tempo_following(80.0, 120.0) == (0.0, True)  # two thirds: the swing error
    assert tempo_following(100.0, 120.0) == (0.0, False)
    hit, octave = tempo_following(float("nan"), 120.0)
    assert math.isnan(hit) and not octave


def test_onset_coverage_and_hit_are_recall_and_precision_in_ms():
    reference = np.arange(10) * 0.25
    onsets = np.concatenate([reference[:5] + 0.03, [3.0, 3.1]])  # 5 matched, 2 extra
    coverage, hit = onset_coverage_hit(onsets, reference)
    assert coverage == pytest.approx(0.5) and hit == pytest.approx(5 / 7)
    assert onset_coverage_hit(onsets + 0.03, reference) == (0.0, 0.0)  # 60 ms: outside ±50 ms


def test_levels_of_known_signals():
    rate = 44100
    sine = 0.1 * np.sin(2 * np.pi * 997 * np.arange(3 * rate) / rate)
    assert integrated_lufs(sine, rate) == pytest.approx(-23.01, abs=0.1)  # BS.1770 reference
    clipped = np.clip(3 * sine / 0.1, -1, 1)
    assert 0.5 < clipping_share(clipped) < 0.9 and clipping_share(sine) == 0.0
    half_silent = np.concatenate([sine, np.zeros(3 * rate)])
    assert silence_share(half_silent, rate) == pytest.approx(0.5, abs=0.02)


def test_identical_sets_are_at_distance_zero_within_the_interval():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    kad = with_interval(kernel_audio_distance, a, a.copy())
    assert kad.low <= 0.0 <= kad.high and abs(kad.value) < 0.05  # unbiased: O(1/n) around 0
    far = rng.normal(loc=3.0, size=(60, 8))
    assert frechet_distance(a, far) > 8 * 9 * 0.9  # ‖Δμ‖² = 8 · 3²
    assert with_interval(kernel_audio_distance, a, far).low > kad.high
