"""`echelon validate-performance`: the JSON contract and the exit code."""

import json

import numpy as np
from typer.testing import CliRunner

from flows.cli import app
from synthetic.performances import PhoneFaults, dance, write_performance

runner = CliRunner()


def test_usable_recording_prints_the_contract(house_track, tmp_path):
    path = write_performance(dance(house_track, np.random.default_rng(0),
                                   faults=PhoneFaults(nan_frames=2)), tmp_path / "p.csv")
    result = runner.invoke(app, ["validate-performance", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert {"ok", "frames", "duration_s", "devices", "errors"} <= set(record)
    assert record["ok"] and record["devices"] == [0, 1] and record["errors"] == []
    assert abs(record["duration_s"] - house_track.spec.duration_s) < 0.1
    assert len(record["warnings"]) == 2


def test_unusable_recording_exits_non_zero_naming_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    header = "t,device," + ",".join(f"z{i}" for i in range(25))
    rows = [f"{i / 60},0," + ",".join(["0.5"] * 25) for i in range(30)]
    rows[7] = rows[7].replace("0.5", "oops", 1)
    path.write_text("\n".join([header, *rows]) + "\n")
    result = runner.invoke(app, ["validate-performance", str(path), "--json"])
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert not record["ok"]
    assert record["errors"] == [{"row": 8, "column": "z0", "reason": "not a number: 'oops'"}]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 8" in lines[0] and str(path) in lines[0]


def test_human_output_lists_the_problems(tmp_path):
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    result = runner.invoke(app, ["validate-performance", str(path)])
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())  # rich wraps lines to the terminal's width
    assert "not usable" in text and "not a readable Parquet" in text
