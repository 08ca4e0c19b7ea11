"""One sheet row → one pair, without a database: a given offset is kept as is, a pair that
barely overlaps its track fails with the reason, and an unsure pair can be drawn."""

import numpy as np

from storage.records import TrackGrid
from synthetic.performances import dance, write_performance
from synthetic.tracks import write_track
from tasks.config import MotionConfig
from tasks.pairs.build import build_pair
from tasks.pairs.plot import plot_pair
from tasks.pairs.sheet import SheetRow


def test_given_offsets_are_kept_and_a_pair_that_misses_its_track_fails(house_track, tmp_path):
    track = write_track(house_track, tmp_path / "house.wav")
    take = write_performance(dance(house_track, np.random.default_rng(0), 40.0),
                             tmp_path / "take.parquet")
    grid = TrackGrid(str(track), "hash", "ok", None, "cfg", house_track.spec.duration_s, 4,
                     house_track.beats, house_track.section_starts)
    kept, sync = build_pair(SheetRow(1, "take", take, track, -40.0), grid, MotionConfig(), "f",
                            tmp_path)
    assert sync is None and kept.usable and kept.offset_s == -40.0 and not kept.estimated
    assert kept.motion_path == "take.parquet" and kept.audio_path == "house.wav"
    assert kept.overlap_start_s == 0.0 and kept.reason is None

    late, _ = build_pair(SheetRow(1, "take", take, track, 20.0), grid, MotionConfig(), "f")
    assert late.status == "failed" and "covers 2.8 s of its track" in late.reason

    unsure = kept.__class__(**{**vars(kept), "status": "low_confidence", "confidence": 0.1,
                               "audio_path": str(track), "motion_path": str(take)})
    picture = plot_pair(unsure, -44.0, grid, MotionConfig(), tmp_path / "unsure.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
