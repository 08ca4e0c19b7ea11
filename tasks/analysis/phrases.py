"""Sections where the arrangement changes, and phrases of N bars inside each section.

Sections: a novelty curve on bar-synchronous features — at each bar line, how different the
bars after it sound from the bars before it (a two-window contrast, the bar-level cousin of
Foote's checkerboard kernel) — peak-picked, so every boundary lies on a downbeat; a peak one
bar off the 4-bar phrase grid moves onto it when the phrase line is nearly as novel.
Phrases: N bars from each section start; a short remainder is a phrase of its own, so no
phrase crosses a section boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.analysis.features import FrameFeatures, segment_means


@dataclass(frozen=True)
class Section:
    start_s: float
    end_s: float
    # how strongly the arrangement changes at its start: the novelty there over the floor a
    # boundary must clear (≥ 1 for every found boundary; 0 for the track's first section)
    strength: float = 0.0


@dataclass(frozen=True)
class Phrase:
    start_s: float
    end_s: float
    n_bars: int
    section: int  # index into the track's sections


def bar_features(features: FrameFeatures, downbeats: np.ndarray, end_s: float) -> np.ndarray:
    """(n_bars, D) per-bar means of what describes the arrangement: band energies (dB/10),
    harmony (chroma) and loudness. Bar j covers [downbeats[j], downbeats[j+1] or end_s)."""
    edges = features.frames_of(np.append(downbeats, end_s))
    # Bands more than 80 dB below the loudest moment are noise floor; clip them so that the
    # floor's own fluctuations do not look like an arrangement change.
    floor = float(features.mel_db.max()) - 80.0
    mel = np.maximum(features.mel_db, floor) / 10.0
    matrix = np.vstack([mel, features.chroma, np.maximum(features.rms_db, floor)[None] / 10.0])
    return segment_means(matrix, edges).T


def bar_novelty(bars: np.ndarray, window: int = 4) -> np.ndarray:
    """(n_bars,) contrast between the `window` bars before and after each bar line.

    Two contrasts, and the smaller one counts. The flat one (plain means) is zero inside a
    loop: a chord progression that repeats within the window cancels out. The tapered one
    (nearest bars weigh most, as Foote's checkerboard kernel is tapered by a Gaussian) peaks
    on the bar line itself instead of forming a plateau, so a one-bar event such as a crash
    on the first bar cannot pull the peak a bar late.
    """
    n = len(bars)
    novelty = np.zeros(n)
    for i in range(1, n):
        w = min(window, i, n - i)
        before, after = bars[i - w: i][::-1], bars[i: i + w]  # nearest bar first on both sides
        taper = np.arange(w, 0, -1, dtype=float)
        taper /= taper.sum()
        flat = np.linalg.norm(after.mean(axis=0) - before.mean(axis=0))
        tapered = np.linalg.norm(taper @ after - taper @ before)
        novelty[i] = float(min(flat, tapered))
    return novelty


PHRASE_GRID_BARS = 4  # sections start on 4-bar phrase lines, counted from the music's start
SNAP_SHARE = 0.7  # a phrase line this nearly as novel as a peak one bar off takes the peak


def snap_to_phrase_grid(novelty: np.ndarray, bars_before: int = 0,
                        grid: int = PHRASE_GRID_BARS, share: float = SNAP_SHARE) -> np.ndarray:
    """The novelty with each peak that lies one bar off the phrase grid moved onto the grid,
    when the phrase line there is nearly as novel (the phrase-length prior).

    A crash on the first bar of a section, or a fill in the last bar of the one before, makes
    the bars around a boundary differ from both neighbours, so the contrast can peak one bar
    early or late (tutorial_georgyporgy: 73 and 79 for 72 and 80). Boundaries are only moved,
    never added: a phrase line without its own change stays no boundary. The grid counts from
    where the music starts: `bars_before` bars of it come before the first bar found (an intro
    of off-beat hats that the tracker did not count)."""
    novelty = np.asarray(novelty, dtype=float)
    moved = novelty.copy()
    on_grid = (np.arange(len(novelty)) + bars_before) % grid == 0
    for i in range(1, len(novelty) - 1):
        if on_grid[i] or novelty[i] < max(novelty[i - 1], novelty[i + 1]):
            continue
        for j in (i - 1, i + 1):
            if on_grid[j] and novelty[j] >= share * novelty[i]:
                moved[i], moved[j] = novelty[j], novelty[i]
    return moved


def section_starts(novelty: np.ndarray, min_bars: int = 4, threshold: float = 2.0,
                   relative: float = 0.1, bars_before: int = 0) -> list[int]:
    """Bar indices where sections start (0 is always one): peaks of the novelty that clear an
    absolute floor and a share of the strongest change, strongest first, at least `min_bars`
    apart and from either end of the track. The track starts `bars_before` bars before the
    first bar found (see `snap_to_phrase_grid`): a 4-bar intro whose first bar the tracker
    missed is still 4 bars long."""
    if len(novelty) == 0:
        return []
    floor = boundary_floor(novelty, threshold, relative)
    radius = 1
    starts = [0]
    for i in np.argsort(-novelty, kind="stable"):
        if novelty[i] < floor:
            break
        lo, hi = max(0, i - radius), min(len(novelty), i + radius + 1)
        if novelty[i] < novelty[lo:hi].max() \
                or not (min_bars <= i + bars_before and i <= len(novelty) - min_bars):
            continue
        if all(abs(int(i) - s) + (bars_before if s == 0 else 0) >= min_bars for s in starts):
            starts.append(int(i))
    return sorted(starts)


def boundary_floor(novelty: np.ndarray, threshold: float = 2.0, relative: float = 0.1) -> float:
    """The novelty a bar line must reach to start a section: an absolute floor, or a share of
    the track's strongest change when that is higher."""
    return max(threshold, relative * float(novelty.max()))


def segment(
    features: FrameFeatures,
    downbeats: np.ndarray,  # (n_bars,) seconds
    duration_s: float,
    phrase_bars: int = 8,
    min_section_bars: int = 4,
    novelty_window: int = 4,
    novelty_threshold: float = 2.0,
) -> tuple[list[Section], list[Phrase]]:
    """Sections covering [0, duration_s] and the phrases inside them."""
    if len(downbeats) == 0:
        return [Section(0.0, float(duration_s))], []
    bar_end = _bar_end(downbeats, duration_s)
    bars = bar_features(features, downbeats, bar_end)
    bar_s = float(np.median(np.diff(downbeats))) if len(downbeats) > 1 else 0.0
    before = int(round(max(downbeats[0] - music_start_s(features), 0.0) / bar_s)) if bar_s else 0
    novelty = snap_to_phrase_grid(bar_novelty(bars, novelty_window), before)
    starts = section_starts(novelty, min_section_bars, novelty_threshold, bars_before=before)
    floor = max(boundary_floor(novelty, novelty_threshold), 1e-9)
    edges_s = [float(downbeats[i]) for i in starts[1:]]
    strengths = [0.0] + [float(novelty[i] / floor) for i in starts[1:]]
    sections = [Section(a, b, s) for a, b, s in zip([0.0] + edges_s, edges_s + [float(duration_s)],
                                                    strengths)]

    bar_times = np.append(downbeats, bar_end)
    phrases = []
    for index, (a, b) in enumerate(zip(starts, starts[1:] + [len(downbeats)])):
        for first in range(a, b, phrase_bars):
            last = min(first + phrase_bars, b)
            phrases.append(Phrase(float(bar_times[first]), float(bar_times[last]), last - first, index))
    return sections, phrases


def music_start_s(features: FrameFeatures, below_peak_db: float = 40.0) -> float:
    """Where the music starts: the first frame within `below_peak_db` of the loudest."""
    loud = np.flatnonzero(features.rms_db > float(features.rms_db.max()) - below_peak_db)
    return float(loud[0] * features.hop_length / features.sample_rate) if len(loud) else 0.0


def _bar_end(downbeats: np.ndarray, duration_s: float) -> float:
    """End of the last bar: one typical bar after the last downbeat, within the track."""
    bar = float(np.median(np.diff(downbeats))) if len(downbeats) > 1 else duration_s
    return float(min(duration_s, downbeats[-1] + bar))
