"""`echelon evaluate` on one file: a track judged against motion that dances to its beats
scores at its ceiling, against motion at another tempo near its floor; the JSON contract."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import ndtr
from typer.testing import CliRunner

from flows.cli import app
from tasks.evaluation.facts import audio_facts
from tasks.evaluation.score import CONTRACT, Pairing, render_offset, score
from tasks.motion.recording import load_performance

runner = CliRunner()
CLOCK = 100.0  # recording time of the audio's first sample


def pulses(beats: np.ndarray, duration_s: float, path, rate: float = 60.0):
    """A two-phone recording that moves in a quick step on each of `beats` (audio seconds) and
    holds still in between: its speed peaks on the beats."""
    t = np.arange(int(duration_s * rate)) / rate
    direction = np.random.default_rng(1).normal(size=25)
    position = ndtr((t[:, None] - beats[None, :]) / 0.04).sum(axis=1)
    rows = {"t": np.repeat(t + CLOCK, 2), "device": np.tile([0, 1], len(t))}
    rows.update({f"z{k}": np.repeat(position * direction[k], 2) for k in range(25)})
    pq.write_table(pa.table(rows), path)
    return path


def evaluate(*args, code: int = 0) -> dict:
    result = runner.invoke(app, ["evaluate", *map(str, args), "--json"])
    assert result.exit_code == code, result.stderr[-2000:]
    return json.loads(result.stdout) if code == 0 else result


def test_motion_on_the_beats_scores_near_the_ceiling_and_another_tempo_near_the_floor(
        house_track, house_wav, tmp_path):
    duration = house_track.spec.duration_s
    on_beat = pulses(house_track.beats, duration, tmp_path / "on.parquet")
    figures = evaluate("--audio", house_wav, "--performance", on_beat, "--reference", house_wav,
                       "--offset", -CLOCK)
    assert list(figures) == list(CONTRACT)
    assert figures["tempo_follow"] == 1.0
    assert figures["tempo_motion_bpm"] == pytest.approx(house_track.spec.bpm, rel=0.01)
    assert figures["beat_align"] > 0.8 and figures["beat_f"] > 0.9
    assert figures["onset_coverage"] == figures["onset_hit"] == 1.0  # the reference itself
    assert -40 < figures["lufs"] < 0 and figures["clipping"] == 0.0

    # the same audio against a dancer at 0.8 × its tempo (the plain functions: one analysis)
    facts = audio_facts(house_wav)
    period = 60.0 / (house_track.spec.bpm * 0.8)
    slower = load_performance(pulses(np.arange(0.3, duration, period), duration,
                                     tmp_path / "slow.parquet"))
    other = score(Pairing(facts, slower, render_offset(slower)))
    assert other["tempo_follow"] == 0.0 and math.isnan(other["onset_coverage"])
    assert other["beat_align"] < 0.5 and other["beat_f"] < 0.6
    assert figures["beat_align"] - other["beat_align"] > 0.4


def test_bad_input_is_one_line(house_wav, tmp_path):
    result = evaluate("--audio", house_wav, code=2)
    assert "--performance" in result.stderr
    (tmp_path / "junk.csv").write_text("t,device\nx,y\n")
    result = evaluate("--audio", house_wav, "--performance", tmp_path / "junk.csv", code=1)
    assert result.stderr.count("\n") == 1 and "junk.csv" in result.stderr
    result = evaluate("--renders", tmp_path, "--home", tmp_path, code=1)  # no manifest
    assert "renders.parquet" in result.stderr
