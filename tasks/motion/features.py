"""What motion and music share measurably: tempo from the motion's periodicity and energy from
its magnitude. Retrieval-guided rendering matches these against the phrases' tempo and energy."""

from __future__ import annotations

import numpy as np

from tasks.motion.recording import Performance

BPM_RESOLUTION = 0.05  # the spectrum is zero-padded to read tempo this finely


def motion_signal(performance: Performance, first: int = 0, last: int | None = None) -> np.ndarray:
    """(T, D·25) centred LatentState of the present devices over frames [first, last)."""
    frames = performance.frames[first:last]  # (T, 2, 25)
    present = performance.present[first:last]
    used = [d for d in range(frames.shape[1]) if present[:, d].all()] or \
           [d for d in range(frames.shape[1]) if present[:, d].any()]
    signal = frames[:, used].reshape(len(frames), -1).astype(np.float64)
    return signal - signal.mean(axis=0, keepdims=True)


def motion_tempo(performance: Performance, first: int = 0, last: int | None = None,
                 min_bpm: float = 75.0, max_bpm: float = 165.0) -> float:
    """BPM of the strongest periodicity of the movement in [min_bpm, max_bpm]: the peak of the
    power spectrum of the LatentState's velocity, summed over its dimensions. Velocity rather
    than position, because a slower sway (the bar, every other beat) would otherwise outweigh
    the beat; a Hann window and zero padding place the peak to a fraction of a BPM. NaN when
    the span holds less than two beats at min_bpm, or does not move."""
    signal = motion_signal(performance, first, last)
    rate = performance.frame_rate
    if len(signal) < rate * 2 * 60.0 / min_bpm or not np.any(signal):
        return float("nan")
    velocity = np.diff(signal, axis=0) * rate  # (T-1, K)
    window = np.hanning(len(velocity))[:, None]
    size = max(len(velocity), int(np.ceil(rate * 60.0 / BPM_RESOLUTION)))
    power = (np.abs(np.fft.rfft(velocity * window, n=size, axis=0)) ** 2).sum(axis=1)
    bpm = np.fft.rfftfreq(size, 1.0 / rate) * 60.0
    inside = np.flatnonzero((bpm >= min_bpm) & (bpm <= max_bpm))
    peak = inside[int(np.argmax(power[inside]))]
    if 0 < peak < len(power) - 1:  # parabolic refinement between bins
        a, b, c = np.log(power[peak - 1:peak + 2] + 1e-300)
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if denominator else 0.0
        return float(bpm[peak] + offset * (bpm[1] - bpm[0]))
    return float(bpm[peak])


def frame_speeds(performance: Performance, first: int = 0, last: int | None = None) -> np.ndarray:
    """(N − 1,) speed of the LatentState (units per second) between the frames of [first, last)."""
    signal = motion_signal(performance, first, last)
    return np.linalg.norm(np.diff(signal, axis=0), axis=1) * performance.frame_rate


def motion_energy(performance: Performance, first: int = 0, last: int | None = None) -> float:
    """Mean speed of the LatentState (units per second) over [first, last)."""
    speeds = frame_speeds(performance, first, last)
    return float(speeds.mean()) if len(speeds) else 0.0
