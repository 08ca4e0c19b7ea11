import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from flows.cli import app

CONTRACT_KEYS = {"path", "duration_s", "sample_rate", "channels", "tempo_bpm", "beats",
                 "downbeats", "sections", "phrases", "beat_confidence", "downbeat_confidence",
                 "beats_per_bar"}
runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "analyze" in result.output and "demo" in result.output


def test_analyze_json_has_exactly_the_contract_keys(house_wav, house_track):
    result = runner.invoke(app, ["analyze", str(house_wav), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == CONTRACT_KEYS
    assert record["sample_rate"] == 44100 and record["channels"] == 1
    assert record["tempo_bpm"] == pytest.approx(house_track.spec.bpm, rel=0.005)
    assert set(record["sections"][0]) == {"start_s", "end_s", "strength"}
    assert record["sections"][0]["strength"] == 0.0  # the first section starts with the track
    assert all(s["strength"] >= 1.0 for s in record["sections"][1:])
    assert set(record["phrases"][0]) == {"start_s", "end_s", "n_bars", "section"}
    assert set(record["downbeats"]) <= set(record["beats"])


def test_analyze_human_summary_and_plot(house_wav, tmp_path):
    png = tmp_path / "analysis.png"
    result = runner.invoke(app, ["analyze", str(house_wav), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "BPM" in result.output and "sections" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make,reason", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("not audio at all\n" * 40), "not a readable audio file"),
    (lambda p: sf.write(p, np.zeros(44100 * 3, np.float32), 44100, format="WAV"), "silent"),
])
def test_bad_input_exits_non_zero_with_one_line(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and str(path) in lines[0]


def test_bad_config_is_a_one_line_error(house_wav, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("phrases:\n  bars: 7\n")
    result = runner.invoke(app, ["analyze", str(house_wav), "--config", str(cfg)])
    assert result.exit_code == 1 and "phrases.bars" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--runner", "gpu"], "--runner 'gpu': choose threads, processes or dask"),
    (["--dask-address", "tcp://127.0.0.1:8786"], "--dask-address needs --runner dask"),
])
def test_a_wrong_runner_is_a_usage_error_before_any_work(tmp_path, args, message):
    for command in (["rebuild", "--library", str(tmp_path)],
                    ["render", "--performances", str(tmp_path), "--out", str(tmp_path / "o")]):
        result = runner.invoke(app, [*command, "--home", str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
