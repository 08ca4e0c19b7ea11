"""Rhythm metrics: the audio's tempo and beats against the motion's tempo and accents, and the
audio's onsets against a reference recording's. Every window is in milliseconds, so the
figures mean the same at any frame rate or tempo.

All times are on one clock: seconds of the audio being judged (the caller maps the motion's
recording time onto it with the pair's offset)."""

from __future__ import annotations

import math

import mir_eval
import numpy as np
from scipy.signal import find_peaks

from tasks.motion.features import motion_signal
from tasks.motion.recording import Performance

TEMPO_TOLERANCE = 0.04  # a tempo within 4 % of the motion's is a hit
OCTAVE_RATIOS = (0.5, 2.0, 1 / 3, 3.0, 2 / 3, 1.5)  # half/double and the swing-made thirds
BEAT_ALIGN_SIGMA_MS = 50.0  # σ of the Beat Align Score, fixed in time, not in frames
BEAT_F_WINDOW_MS = 70.0  # mir_eval's beat F-measure window
ONSET_WINDOW_MS = 50.0  # onset coverage and hit
ACCENT_MIN_GAP_S = 0.2  # two accents closer than this are one (faster than 300 per minute)


def tempo_following(audio_bpm: float, motion_bpm: float,
                    tolerance: float = TEMPO_TOLERANCE) -> tuple[float, bool]:
    """(hit, octave_error). hit is 1.0 when the audio's tempo is within `tolerance` (relative)
    of the motion's, else 0.0; octave_error is True for a miss that is within tolerance of
    half, double, a third, three times, two thirds or three halves of the motion's tempo — the
    errors of a tracker (or a model) that found another metrical level. NaN in → (nan, False)."""
    if not (math.isfinite(audio_bpm) and math.isfinite(motion_bpm)) or motion_bpm <= 0:
        return float("nan"), False
    ratio = audio_bpm / motion_bpm
    if abs(ratio - 1.0) <= tolerance:
        return 1.0, False
    return 0.0, any(abs(ratio / r - 1.0) <= tolerance for r in OCTAVE_RATIOS)


def motion_accents(performance: Performance, offset_s: float = 0.0) -> np.ndarray:
    """Times of the motion's accents, in audio seconds (recording time + `offset_s`): the
    peaks of the LatentState's speed (the norm of its velocity over the present phones), at
    least ACCENT_MIN_GAP_S apart and standing out by a tenth of the speed's range above their
    surroundings; refined between frames by a parabola through the peak."""
    signal = motion_signal(performance)
    if len(signal) < 3:
        return np.zeros(0)
    rate = performance.frame_rate
    speed = np.linalg.norm(np.diff(signal, axis=0), axis=1) * rate  # (T-1,) at frame midpoints
    span = float(speed.max() - speed.min())
    if span <= 0:
        return np.zeros(0)
    peaks, _ = find_peaks(speed, distance=max(1, int(ACCENT_MIN_GAP_S * rate)),
                          prominence=0.1 * span)
    refined = peaks.astype(float)
    inner = (peaks > 0) & (peaks < len(speed) - 1)
    a, b, c = (speed[peaks[inner] + k] for k in (-1, 0, 1))
    denominator = a - 2 * b + c
    refined[inner] += np.where(denominator != 0, 0.5 * (a - c) / np.where(
        denominator != 0, denominator, 1.0), 0.0)
    return performance.start_s + (refined + 0.5) / rate + offset_s


def beat_align_score(accents: np.ndarray, beats: np.ndarray,
                     sigma_ms: float = BEAT_ALIGN_SIGMA_MS) -> float:
    """Beat Align Score (the form of Bailando/EDGE): the mean over motion accents of
    exp(−d² / 2σ²), d the distance to the nearest audio beat, σ in milliseconds. 1 when every
    accent is on a beat; a uniform offset of σ·√2 gives exp(−1). NaN without accents or beats."""
    accents, beats = np.asarray(accents, float), np.sort(np.asarray(beats, float))
    if len(accents) == 0 or len(beats) == 0:
        return float("nan")
    index = np.clip(np.searchsorted(beats, accents), 1, len(beats) - 1) if len(beats) > 1 \
        else np.zeros(len(accents), int)
    nearest = np.minimum(np.abs(accents - beats[index]), np.abs(accents - beats[index - 1])) \
        if len(beats) > 1 else np.abs(accents - beats[0])
    sigma = sigma_ms / 1000.0
    return float(np.mean(np.exp(-nearest ** 2 / (2 * sigma ** 2))))


def beat_f_measure(accents: np.ndarray, beats: np.ndarray,
                   window_ms: float = BEAT_F_WINDOW_MS) -> float:
    """F-measure of the motion accents against the audio's beats at ±`window_ms` (mir_eval's
    beat F-measure, on the whole span: no trimming of the first seconds). NaN without either."""
    accents, beats = np.asarray(accents, float), np.asarray(beats, float)
    if len(accents) == 0 or len(beats) == 0:
        return float("nan")
    return float(mir_eval.beat.f_measure(np.sort(beats), np.sort(accents),
                                         f_measure_threshold=window_ms / 1000.0))


def onset_coverage_hit(onsets: np.ndarray, reference: np.ndarray,
                       window_ms: float = ONSET_WINDOW_MS) -> tuple[float, float]:
    """(coverage, hit) of the audio's onsets against a reference recording's, on one clock:
    coverage is the share of reference onsets matched by an onset of the audio within
    ±`window_ms` (recall), hit the share of the audio's onsets that match a reference onset
    (precision), each onset matched at most once (mir_eval's onset matching). NaN when either
    side has no onsets."""
    onsets, reference = np.sort(np.asarray(onsets, float)), np.sort(np.asarray(reference, float))
    if len(onsets) == 0 or len(reference) == 0:
        return float("nan"), float("nan")
    matched = len(mir_eval.util.match_events(reference, onsets, window_ms / 1000.0))
    return matched / len(reference), matched / len(onsets)
