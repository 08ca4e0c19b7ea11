"""Accuracy against known annotations, with mir_eval's standard measures."""

from __future__ import annotations

import mir_eval
import numpy as np

BOUNDARY_WINDOW_S = 0.5


def beat_f(reference: np.ndarray, estimated: np.ndarray) -> float:
    """F-measure at ±70 ms (mir_eval's default), on the whole track: no trimming of the first
    5 s, since the intro is exactly where trackers go wrong on this music."""
    return float(mir_eval.beat.f_measure(np.asarray(reference, float), np.asarray(estimated, float)))


def boundary_f(reference: np.ndarray, estimated: np.ndarray, window: float = BOUNDARY_WINDOW_S) -> float:
    """Section-boundary hit rate F at ±`window` seconds over inner boundaries (track start
    and end are not boundaries anyone needs to find)."""
    reference, estimated = np.asarray(reference, float), np.asarray(estimated, float)
    if len(reference) == 0 and len(estimated) == 0:
        return 1.0
    if len(reference) == 0 or len(estimated) == 0:
        return 0.0
    # mir_eval.onset.f_measure is the same one-to-one matching that segment.detection uses,
    # taking boundary times directly instead of intervals.
    return float(mir_eval.onset.f_measure(reference, estimated, window=window)[0])


def amlt(reference: np.ndarray, estimated: np.ndarray) -> float:
    """Allowed-metrical-level continuity (double/half tempo and off-beat are accepted)."""
    _, _, _, amlt_score = mir_eval.beat.continuity(np.asarray(reference, float),
                                                   np.asarray(estimated, float))
    return float(amlt_score)


def score_analysis(result: dict, beats: np.ndarray, downbeats: np.ndarray,
                   boundaries: np.ndarray) -> dict[str, float]:
    """Beat, downbeat and boundary F of an `analyze --json` record against the truth."""
    estimated_boundaries = [s["start_s"] for s in result["sections"][1:]]
    return {
        "beat_f": beat_f(beats, result["beats"]),
        "downbeat_f": beat_f(downbeats, result["downbeats"]),
        "section_f": boundary_f(boundaries, estimated_boundaries),
    }
