"""How audible a seam is: the largest sample-to-sample jump near a seam, against the same
measure everywhere else in the audio. A ratio at or below 1 means the seams are no more abrupt
than the audio's own 99th percentile; a click or a cut shows as a ratio well above 1."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d

WINDOW_S = 0.005  # the neighbourhood of a seam that is searched for a jump


def seam_ratio(wave: np.ndarray, seams: list[int], sample_rate: int,
               percentile: float = 99.0) -> float:
    """Worst seam jump ÷ the audio's `percentile` of jumps over windows of the same size.
    0.0 without seams; NaN for silence (no jumps to compare with)."""
    if not seams:
        return 0.0
    jumps = np.abs(np.diff(np.asarray(wave, dtype=np.float64)))
    if len(jumps) == 0 or not np.any(jumps):
        return float("nan")
    size = max(1, int(WINDOW_S * sample_rate))
    local = maximum_filter1d(jumps, size=size, mode="nearest")  # (N-1,)
    level = float(np.percentile(local, percentile))
    at_seams = local[np.clip(np.asarray(seams), 0, len(local) - 1)]
    return float(at_seams.max() / level) if level > 0 else float("inf")
