import numpy as np
import pytest

from tasks.analysis.accuracy import boundary_f
from tasks.analysis.phrases import bar_novelty, section_starts, segment, snap_to_phrase_grid


def test_sections_of_the_generated_track(house_track, house_analysis):
    estimated = [s.start_s for s in house_analysis.sections[1:]]
    assert boundary_f(house_track.boundaries, estimated) >= 0.99
    # Sections tile the track: no gap, no overlap.
    sections = house_analysis.sections
    assert sections[0].start_s == 0.0
    assert sections[-1].end_s == pytest.approx(house_analysis.duration_s)
    assert all(a.end_s == b.start_s for a, b in zip(sections, sections[1:]))


def test_boundaries_and_phrases_start_on_downbeats(house_analysis):
    downbeats = house_analysis.beat_track.downbeats
    for s in house_analysis.sections[1:]:
        assert np.min(np.abs(downbeats - s.start_s)) < 1e-6
    for p in house_analysis.phrases:
        assert np.min(np.abs(downbeats - p.start_s)) < 1e-6


def test_phrases_never_cross_a_section(house_analysis):
    for p in house_analysis.phrases:
        section = house_analysis.sections[p.section]
        assert section.start_s - 1e-6 <= p.start_s < p.end_s <= section.end_s + 1e-6


def _steps(levels_per_bar: list[float]) -> np.ndarray:
    return np.array(levels_per_bar, dtype=float)[:, None] * np.ones((1, 8))


def test_novelty_peaks_on_the_bar_where_the_arrangement_changes():
    bars = _steps([0] * 8 + [1] * 8 + [0.2] * 4 + [1.5] * 8)
    starts = section_starts(bar_novelty(bars), min_bars=4, threshold=0.5)
    assert starts == [0, 8, 16, 20]


def test_repeating_chord_progression_is_not_a_boundary():
    rng = np.random.default_rng(0)
    progression = rng.normal(0, 1, (4, 8))
    bars = np.concatenate([progression] * 6)  # 24 bars of the same 4-bar loop
    assert section_starts(bar_novelty(bars), threshold=0.5) == [0]


@pytest.mark.parametrize("phrase_bars", [4, 8, 16])
def test_phrase_lengths_and_remainders(house_analysis, phrase_bars):
    downbeats = house_analysis.beat_track.downbeats
    sections, phrases = segment(house_analysis.features, downbeats, house_analysis.duration_s,
                                phrase_bars=phrase_bars)
    assert [s.start_s for s in sections] == [s.start_s for s in house_analysis.sections]
    for index in range(len(sections)):
        inside = [p.n_bars for p in phrases if p.section == index]
        # Full phrases first, then at most one shorter remainder.
        assert all(n == phrase_bars for n in inside[:-1])
        assert 1 <= inside[-1] <= phrase_bars
    assert sum(p.n_bars for p in phrases) == len(downbeats)


def test_no_downbeats_gives_one_section_and_no_phrases(house_analysis):
    sections, phrases = segment(house_analysis.features, np.zeros(0), 12.0)
    assert len(sections) == 1 and sections[0].end_s == 12.0 and phrases == []


def test_a_peak_one_bar_off_the_phrase_grid_moves_onto_a_nearly_as_novel_phrase_line():
    """tutorial_georgyporgy: the arrangement changes on bar 72, the contrast peaks on 73."""
    novelty = np.full(100, 0.5)
    novelty[[72, 73]] = [2.8, 2.9]  # 72 is a phrase line (a multiple of 4 bars)
    novelty[[40, 41]] = [0.6, 3.0]  # 40 barely changes: a peak of its own at 41 stays
    novelty[[58]] = 4.0  # two bars off the grid: no neighbour on it, stays
    snapped = snap_to_phrase_grid(novelty)
    assert section_starts(snapped) == [0, 41, 58, 72]
    assert snapped[72] == 2.9 and snapped[73] == 2.8  # moved, not added
    assert np.sort(snapped).tolist() == np.sort(novelty).tolist()


def test_the_phrase_grid_counts_from_where_the_music_starts():
    """One bar of off-beat hats before the first bar found: phrase lines fall on 3, 7, 11…"""
    novelty = np.full(40, 0.5)
    novelty[[19, 20]] = [2.8, 2.9]
    assert snap_to_phrase_grid(novelty, bars_before=1)[19] == 2.9
    assert snap_to_phrase_grid(novelty, bars_before=0)[20] == 2.9  # 20 is a phrase line


def test_an_intro_whose_first_bar_was_missed_still_ends_four_bars_in():
    """GM_kit_demo3 in one render: its first beat at 0 s missed, the first bar found is the
    song's second, and the 4-bar intro's boundary sits at index 3."""
    novelty = np.full(12, 0.5)
    novelty[3] = 5.0
    assert section_starts(novelty) == [0]  # three bars from the start as far as it knows
    assert section_starts(novelty, bars_before=1) == [0, 3]
