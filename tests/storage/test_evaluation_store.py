"""Evaluation rows of different shapes (renders, the summary) keep every column."""

import math

from storage.evaluation_store import append_history, read_evaluation, write_evaluation


def test_every_key_of_every_row_is_a_column(tmp_path):
    rows = [{"performance": "a", "beat_align": 0.5, "floor_beat_align": float("nan")},
            {"performance": "(summary)", "beat_align": 0.5, "renders": 1, "frechet": 2.0}]
    back = read_evaluation(write_evaluation(rows, tmp_path / "evaluation.parquet"))
    assert back[1]["renders"] == 1 and back[1]["frechet"] == 2.0 and back[0]["renders"] is None
    assert math.isnan(back[0]["floor_beat_align"]) and back[1]["floor_beat_align"] is None
    history = tmp_path / "evaluations.parquet"
    append_history(rows[:1], history)
    append_history(rows, history)
    assert [r["performance"] for r in read_evaluation(history)] == ["a", "a", "(summary)"]
    assert read_evaluation(history)[2]["frechet"] == 2.0
