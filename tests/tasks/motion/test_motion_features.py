"""Tempo and energy read from motion alone, against the tracks the motion danced to."""

import numpy as np
import pytest

from synthetic.performances import PhoneFaults, dance, write_performance
from synthetic.tracks import SectionSpec, TrackSpec, render
from tasks.motion.features import motion_energy, motion_tempo
from tasks.motion.recording import load_performance


@pytest.mark.parametrize("bpm", [92.0, 118.0, 131.0, 152.0])
def test_motion_tempo_is_the_dance_tempo(bpm, tmp_path):
    track = render(TrackSpec(bpm=bpm, sections=(SectionSpec("groove", 4),), seed=5))
    path = write_performance(dance(track, np.random.default_rng(1), 100.0,
                                   faults=PhoneFaults(device1_missing=True)), tmp_path / "p.parquet")
    performance = load_performance(path)
    assert abs(motion_tempo(performance) - bpm) / bpm < 0.01
    assert abs(motion_tempo(performance, 30, 30 + 180) - bpm) / bpm < 0.01  # a 6 s span


def test_more_vigorous_dancing_has_more_energy_and_stillness_has_no_tempo(tmp_path):
    track = render(TrackSpec(bpm=120.0, sections=(SectionSpec("break", 2), SectionSpec("drop", 2)),
                             seed=6))
    performance = load_performance(write_performance(dance(track, np.random.default_rng(2), 100.0),
                                                     tmp_path / "p.parquet"))
    half = performance.n_frames // 2
    assert motion_energy(performance, half) > 2 * motion_energy(performance, 0, half)
    assert np.isnan(motion_tempo(performance, 0, 10))  # less than two beats
    still = performance.__class__(**{**vars(performance),
                                     "frames": np.zeros_like(performance.frames)})
    assert np.isnan(motion_tempo(still)) and motion_energy(still) == 0.0
