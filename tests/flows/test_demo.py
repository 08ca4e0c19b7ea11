from flows.demo import demo_flow


def test_demo_flow_generates_analyses_and_scores(prefect_harness, tmp_path):
    summary = demo_flow(home=tmp_path, n_tracks=2, seed=3)
    assert len(summary["tracks"]) == 2
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == ["demo_00.wav", "demo_01.wav"]
    for row in summary["tracks"]:
        assert abs(row["tempo_bpm"] - row["true_bpm"]) / row["true_bpm"] < 0.01
        assert row["beat_f"] >= 0.95
        assert row["phrases"] >= row["sections"] >= 1
