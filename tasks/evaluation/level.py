"""Level metrics of one waveform: loudness, clipping and silence."""

from __future__ import annotations

import numpy as np

CLIP_LEVEL = 32767 / 32768  # full scale of 16-bit PCM: a sample here or above is clipped
SILENCE_DBFS = -60.0
SILENCE_FRAME_S = 0.05


def integrated_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 with its gates, through pyloudnorm) of a
    mono or (N, C) waveform; NaN when shorter than one 400 ms block, −inf when silent."""
    import pyloudnorm

    samples = np.asarray(samples, np.float64)
    if len(samples) < int(0.4 * sample_rate):
        return float("nan")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(samples))


def clipping_share(samples: np.ndarray) -> float:
    """Share of samples at or above 16-bit full scale (|x| ≥ 32767/32768)."""
    samples = np.asarray(samples)
    return float(np.mean(np.abs(samples) >= CLIP_LEVEL)) if samples.size else float("nan")


def silence_share(samples: np.ndarray, sample_rate: int) -> float:
    """Share of 50 ms frames whose RMS is below −60 dBFS."""
    mono = np.asarray(samples, np.float64)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    size = max(1, int(SILENCE_FRAME_S * sample_rate))
    n = len(mono) // size
    if n == 0:
        return float("nan")
    rms = np.sqrt(np.mean(mono[:n * size].reshape(n, size) ** 2, axis=1))
    return float(np.mean(rms < 10 ** (SILENCE_DBFS / 20)))
