"""The whole mission through the CLI: `echelon demo` end to end, then `echelon render` (with
retrieval from the demo's phrase database) and `echelon export` on what the demo trained."""

import json
import shutil

import pytest
import soundfile as sf
from typer.testing import CliRunner

from flows.cli import app
from storage.evaluation_store import read_evaluation
from storage.pair_manifest import read_pairs
from storage.render_manifest import read_manifest
from tasks.motion.recording import load_performance, validate_performance
from tasks.motion.windows import conditioning_inputs
from tasks.pairs.sheet import read_sheet

runner = CliRunner()


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def demo(mission_demo):
    return mission_demo


def test_demo_runs_the_whole_mission(demo):
    home, summary = demo
    assert set(summary) == {"phrase_db", "tokens", "vqvae_checkpoint", "diffusion_checkpoint",
                            "manifest", "renders"}
    for key in ("phrase_db", "tokens", "vqvae_checkpoint", "diffusion_checkpoint", "manifest"):
        assert (home / summary[key]).is_file(), key
    assert len(summary["renders"]) == 2
    for render in summary["renders"]:
        audio, rate = sf.read(render["wav"])
        assert rate == 44100 and render["duration_s"] == pytest.approx(len(audio) / rate)
        assert abs(render["duration_s"] - load_performance(render["performance"]).duration_s) < 0.01
    assert all(r.status == "ok" for r in read_manifest(summary["manifest"]))
    # generated performances with phone faults, each usable, listed in a sheet without offsets
    assert sorted(p.name for p in (home / "library").iterdir()) == ["demo_00.wav", "demo_01.wav"]
    rows = read_sheet(home / "pairs.csv")
    assert [(r.pair_id, r.offset_s) for r in rows] == [("performances/demo_00.parquet", None),
                                                       ("performances/demo_01.csv", None)]
    for r in rows:
        performance, report = validate_performance(r.recording)
        assert report.ok and r.track.is_file() and performance.duration_s >= 20
        assert conditioning_inputs(performance).windows.shape[1:] == (2, 46, 25)
    assert len(validate_performance(rows[1].recording)[1].warnings) == 3  # NaN frames, filled
    # the pairs came from that sheet: clock sync placed each to a frame
    pairs = read_pairs(home / "motion_audio_pairs.parquet")
    assert [(p.status, p.estimated) for p in pairs] == [("ok", True), ("ok", True)]
    assert all(abs(p.offset_s - (-100.0)) <= 1 / 30 for p in pairs), [p.offset_s for p in pairs]
    # and a motion → phrase mapper learned from them, which retrieval-guided renders use
    assert (home / "checkpoints" / "mapper" / "mapper.pt").is_file()


def test_render_with_retrieval_resume_and_a_bad_recording(demo, tmp_path):
    home, _ = demo
    performances = tmp_path / "show"
    shutil.copytree(home / "performances", performances)
    out = tmp_path / "out"
    args = ("render", "--performances", performances, "--out", out, "--home", home,
            "--retrieval", "--steps", 4, "--no-evaluate", "--json")
    records = json.loads(invoke(*args).stdout)
    assert [r["action"] for r in records] == ["rendered", "rendered"]
    for r in records:
        assert r["retrieval"] and len(r["phrases"]) == r["chunks"] and r["steps"] == 4
        assert sf.info(r["wav"]).samplerate == 44100

    (performances / "zz_broken.parquet").write_bytes(b"not parquet")
    result = invoke(*args, code=1)
    records = json.loads(result.stdout)
    assert [r["action"] for r in records] == ["skipped", "skipped", "failed"]
    assert not (out / "evaluation.parquet").exists()  # --no-evaluate
    assert result.stderr.count("\n") == 1 and "zz_broken.parquet" in result.stderr
    manifest = {r.performance: r for r in read_manifest(out / "renders.parquet")}
    assert manifest[str(performances / "zz_broken.parquet")].status == "failed"

    wrong = invoke("render", "--performances", performances, "--out", tmp_path / "o2", "--home",
                   home, "--sampler", "euler", code=1)  # a flow-matching sampler
    assert wrong.stderr.count("\n") == 1 and "'euler' does not fit" in wrong.stderr

    missing = invoke("render", "--performances", performances, "--out", out, "--home",
                     tmp_path / "nowhere", code=1)
    assert "no diffusion checkpoint" in missing.stderr


def test_export_for_the_real_time_engine(demo, tmp_path):
    home, _ = demo
    result = invoke("export", "--home", home, "--out", tmp_path, "--format", "torchscript",
                    "--latents", 64, "--json")
    summary = json.loads(result.stdout)
    assert summary["denoiser_max_abs_diff"] < 1e-4 and summary["encoder_max_abs_diff"] < 1e-4
    assert summary["decoder_max_abs_diff"] < 1e-4  # motion to waveform: every part is there
    for name in ("encoder.pt", "denoiser.pt", "decoder.pt", "codebook.npy", "engine.json",
                 "null_conditioning.npy"):
        assert (tmp_path / name).is_file(), name
    engine = json.loads((tmp_path / "engine.json").read_text())
    assert engine["latent_scale"] > 0 and engine["sample_rate"] == 44100


def test_the_demo_renders_are_judged_with_floors_and_ceilings(demo):
    home, summary = demo
    rows = read_evaluation(home / "renders" / "evaluation.parquet")  # the render's own subflow
    judged = rows[-1]
    assert judged["performance"] == "(summary)" and judged["renders"] == 2
    for key in ("tempo_follow", "beat_align", "beat_f", "onset_coverage", "onset_hit"):
        assert judged[f"floor_{key}"] is not None and judged[f"ceiling_{key}"] is not None, key
    assert judged["ceiling_tempo_follow"] == 1.0  # the demo's tracks, against their dancers
    assert judged["ceiling_onset_coverage"] == 1.0  # each original against itself
    assert judged["ceiling_frechet"] < judged["floor_frechet"]  # the library's own vs noise
    assert judged["frechet_low"] <= judged["frechet_high"]
    assert all(r["diffusion_sha256"] for r in rows[:-1])
    history = json.loads(invoke("sql", "SELECT count(*) AS n FROM evaluations", "--home", home,
                                "--json").stdout)
    assert history[0]["n"] == 3  # two renders and the summary, appended in the home
