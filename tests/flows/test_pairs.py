"""`echelon pairs`: a pairing sheet with good rows and every kind of bad one → the pairs
manifest, each row with its status and reason; a second run recomputes nothing."""

import json

import numpy as np
from typer.testing import CliRunner

from flows.cli import app
from flows.pairs import pairs_flow
from storage.home import Home
from storage.pair_manifest import read_pairs
from synthetic.performances import dance, write_performance
from synthetic.tracks import write_track
from tasks.motion.sync import LOW_CONFIDENCE

runner = CliRunner()
CLOCK_S = 250.0  # the phones' clock when the track starts: the true offset is −250 s


def _sheet(folder, house_track):
    write_track(house_track, folder / "music" / "house.wav")
    (folder / "music" / "noise.wav").write_bytes(b"RIFF not really audio" * 40)
    takes = folder / "takes"
    write_performance(dance(house_track, np.random.default_rng(1), CLOCK_S, record_from_s=-3.0),
                      takes / "early.parquet")
    write_performance(dance(house_track, np.random.default_rng(2), CLOCK_S,
                            record_until_s=house_track.spec.duration_s + 10.0),
                      takes / "long.csv")
    for name in ("other.parquet", "another.parquet"):
        write_performance(dance(house_track, np.random.default_rng(3), CLOCK_S), takes / name)
    (takes / "broken.csv").write_text("t,device\n0.0,0\n")
    lines = ["recording,track,offset_s,dancer",
             "takes/early.parquet,music/house.wav,,ana",
             f"takes/long.csv,music/house.wav,{-CLOCK_S},ben",
             "takes/broken.csv,music/house.wav,,cy",
             "takes/nowhere.parquet,music/house.wav,,dee",
             "takes/early.parquet,music/house.wav,,ana again",
             "takes/other.parquet,music/noise.wav,,eve",
             "takes/another.parquet,music/gone.wav,-250,fay"]
    (folder / "sheet.csv").write_text("\n".join(lines) + "\n")
    return folder / "sheet.csv"


def test_pairs_from_a_sheet_each_row_with_its_status(prefect_harness, house_track, tmp_path):
    sheet, home = _sheet(tmp_path, house_track), tmp_path / "home"
    result = runner.invoke(app, ["pairs", "--sheet", str(sheet), "--home", str(home), "--json"])
    assert result.exit_code == 1  # some rows failed; the good ones are written
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed", "failed", "failed",
                                           "failed"]
    early, given, broken, nowhere, again, noise, gone = rows
    assert early["estimated"] and abs(early["offset_s"] + CLOCK_S) <= 1 / 30
    assert early["confidence"] >= LOW_CONFIDENCE
    assert not given["estimated"] and given["offset_s"] == -CLOCK_S and given["confidence"] is None
    assert "runs 10.0 s past its end" in given["note"]  # recording longer than its track
    assert "recording not usable" in broken["error"]
    assert "recording not found" in nowhere["error"]
    assert "already paired on row 1" in again["error"]
    assert "track could not be analysed" in noise["error"]
    assert "track not found" in gone["error"]
    stderr = result.stderr.strip().splitlines()
    assert len(stderr) == 1 and "5 of 7 pairs failed" in stderr[0] and "broken.csv" in stderr[0]

    layout = Home(home)
    stored = {p.pair_id: p for p in read_pairs(layout.pairs_manifest)}
    assert [stored[k].usable for k in ("takes/early.parquet", "takes/long.csv")] == [True, True]
    assert sum(p.usable for p in stored.values()) == 2

    again_run = pairs_flow(sheet=sheet, home=home)  # nothing changed: nothing recomputed
    assert again_run["computed"] == 0 and again_run["kept"] == 7 and again_run["analysed"] == 0
    assert again_run["pairs"] == rows


def test_a_sheet_without_its_columns_is_refused_in_one_line(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("file,song\na.parquet,b.wav\n")
    result = runner.invoke(app, ["pairs", "--sheet", str(sheet), "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"echelon: error: {sheet}: the sheet lacks the column(s) "
                                     "recording, track (its header is file,song; expected "
                                     "recording,track[,offset_s])")
