from pathlib import Path

from flows.demo import demo_data_flow
from tasks.motion.recording import validate_performance
from tasks.pairs.sheet import read_sheet
from tasks.motion.windows import conditioning_inputs


def test_demo_data_flow_generates_analyses_and_scores(prefect_harness, tmp_path):
    summary = demo_data_flow(home=tmp_path, n_tracks=2, seed=3)
    assert len(summary["tracks"]) == 2
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == ["demo_00.wav", "demo_01.wav"]
    for row in summary["tracks"]:
        assert abs(row["tempo_bpm"] - row["true_bpm"]) / row["true_bpm"] < 0.01
        assert row["beat_f"] >= 0.95
        assert row["phrases"] >= row["sections"] >= 1

    # performances with phone faults, each still usable, and a pair manifest that reads back
    checks = {Path(c["performance"]).name: c for c in summary["performances"]}
    assert set(checks) == {"demo_00.parquet", "demo_01.csv"}
    assert all(c["ok"] for c in checks.values())
    assert checks["demo_01.csv"]["warnings"] == 3  # three NaN frames, filled
    rows = read_sheet(summary["sheet"])  # a team's pairing sheet: no offsets
    assert [r.pair_id for r in rows] == ["performances/demo_00.parquet",
                                         "performances/demo_01.csv"]
    assert [r.offset_s for r in rows] == [None, None]
    for r in rows:
        performance, report = validate_performance(r.recording)
        assert report.ok and r.track.is_file()
        assert performance.duration_s >= 20
        assert conditioning_inputs(performance).windows.shape[1:] == (2, 46, 25)
