"""Clock sync: where in a track a recording started, against recordings made at known offsets."""

import numpy as np
import pytest

from synthetic.performances import Dancefloor, PhoneFaults, dance, floor_of, write_performance
from synthetic.tracks import SectionSpec, TrackSpec, render
from tasks.motion.recording import load_performance
from tasks.motion.sync import LOW_CONFIDENCE, TrackChanges, estimate_offset, track_changes

FRAME_S = 1 / 30


@pytest.fixture(scope="module")
def track():
    """Sections of uneven lengths, as songs have; a tempo that is no round number of frames."""
    return render(TrackSpec(bpm=126.3, seed=4, sections=(
        SectionSpec("intro_kick", 4), SectionSpec("build", 6), SectionSpec("groove", 8),
        SectionSpec("break", 4), SectionSpec("drop", 10), SectionSpec("outro", 4))))


def _recording(tmp_path, floor, name, clock, **options):
    table = dance(floor, np.random.default_rng(len(name)), clock, **options)
    return load_performance(write_performance(table, tmp_path / f"{name}.parquet"))


def test_offsets_are_recovered_to_a_frame_and_doubt_is_reported(track, tmp_path):
    floor = floor_of(track)
    changes = track_changes(track.samples, track.sample_rate, track.beats,
                            track.boundaries)
    cases = {  # audio time at which the phones started → what else went on
        -5.0: {},  # the phones start before the music
        -1.3: {"faults": PhoneFaults(device1_stops_at=0.5, nan_frames=3)},  # a phone drops out
        0.0: {},
        7.1: {"faults": PhoneFaults(device1_missing=True)},
        18.0: {},
        30.0: {"record_until_s": floor.duration_s + 8.0},  # recording on after the music
    }
    errors, confidences = [], []
    for k, (start, options) in enumerate(cases.items()):
        clock = 37.0 + 101.3 * k  # the phones' clock reads this when the track starts
        performance = _recording(tmp_path, floor, f"r{k}", clock, record_from_s=start,
                                 **options)
        found = estimate_offset(performance, changes)
        errors.append(abs(found.offset_s - (-clock)))
        confidences.append(found.confidence)
    errors, confidences = np.array(errors), np.array(confidences)
    assert np.mean(errors <= FRAME_S) >= 0.9, errors
    assert np.all(confidences[errors > 0.5] < LOW_CONFIDENCE), (errors, confidences)
    assert np.all(confidences[errors <= FRAME_S] >= LOW_CONFIDENCE), (errors, confidences)


def test_a_periodic_dance_over_a_track_that_never_changes_is_doubtful(tmp_path):
    beats = np.arange(0.0, 90.0, 60 / 124)
    floor = Dancefloor(beats, np.array([0.0]), np.array([0.7]), ("groove",), 90.0)
    performance = _recording(tmp_path, floor, "steady", 0.0, record_from_s=20.0,
                             record_until_s=60.0)
    changes = TrackChanges(np.array([0.0, 90.0]), np.ones(2), beats, 90.0, 60 / 124)
    found = estimate_offset(performance, changes)
    assert found.confidence < LOW_CONFIDENCE
