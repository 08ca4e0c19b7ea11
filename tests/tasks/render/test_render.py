"""Batch rendering: bad recordings recorded, killed renders resumed, seeds reproduced, seams
measured, the manifest's provenance true."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import BAD_RECORDINGS
from storage.render_manifest import read_manifest
from storage.stamps import file_sha256
from tasks.config import RenderConfig, SamplerConfig
from tasks.motion.recording import load_performance
from tasks.render.models import load_render_models
from tasks.render.plan import chunk_starts, find_performances
from tasks.render.run import render_performances
from tasks.render.sampling import crossfade_weights

ROOT = Path(__file__).resolve().parents[3]
CONFIG = RenderConfig(chunk_s=1.0, overlap_s=0.25, batch_size=4,
                      sampler=SamplerConfig(kind="ddim", steps=8, guidance_scale=2.0))


@pytest.fixture(scope="module")
def models(tiny_render_checkpoints):
    return load_render_models(*tiny_render_checkpoints, device="cpu")


def test_chunks_cover_the_performance_with_at_least_the_overlap():
    for n, length, overlap in ((5000, 689, 172), (689, 689, 172), (100, 689, 172), (690, 689, 0)):
        starts = chunk_starts(n, length, overlap)
        assert starts[0] == 0 and min(starts[-1] + length, n) == n if n >= length else starts == [0]
        for a, b in zip(starts, starts[1:]):
            assert a < b and a + length - b >= overlap  # each chunk overlaps the one before
    w = crossfade_weights(8)
    assert np.all(np.diff(w) > 0) and 0 < w[0] < 0.1 and 0.9 < w[-1] < 1
    np.testing.assert_allclose(w + w[::-1], 1.0)  # the two chunks' weights sum to one


def test_a_folder_with_a_malformed_file_renders_every_good_one(models, performance_folder,
                                                               tmp_path):
    paths = find_performances(performance_folder)
    outcome = render_performances(paths, tmp_path, models, CONFIG)
    by_name = {Path(r.performance).name: r for r in outcome.records}
    assert sorted(Path(p).name for p in outcome.failed) == list(BAD_RECORDINGS)
    for name in BAD_RECORDINGS:
        bad = by_name[name]
        assert bad.status == "failed" and name in bad.error and bad.wav is None
    assert "do not overlap" in by_name["clocks_apart.parquet"].error
    assert "1e+30" in by_name["huge_values.parquet"].error

    for name in ("show_0.parquet", "show_1.parquet"):
        record = by_name[name]
        assert record.status == "ok" and record.wav == name.replace(".parquet", ".wav")
        audio, rate = sf.read(tmp_path / record.wav)
        performance = load_performance(performance_folder / name)
        assert rate == 44100 and abs(len(audio) / rate - performance.duration_s) < 0.01
        assert record.duration_s == pytest.approx(len(audio) / rate)
        assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        assert record.diffusion_sha256 == file_sha256(models.diffusion_checkpoint)
        assert record.vqvae_sha256 == file_sha256(models.vqvae_checkpoint)
        assert (record.sampler, record.steps, record.guidance) == ("ddim", 8, 2.0)
        assert record.chunks == len(chunk_starts(round(performance.duration_s * 44100 / 64),
                                                 689, 172))
        assert min(record.conditioning_s, record.sampling_s, record.decoding_s,
                   record.writing_s) > 0
        # chunk seams: no jump above the level of the audio's own (tasks/render/seams.py)
        assert record.seam_ratio <= 1.0, record
    assert by_name["show_1.parquet"].chunks >= 4
    # the manifest on disk says the same
    assert {Path(r.performance).name: r for r in read_manifest(tmp_path / "renders.parquet")} \
        == by_name


def test_seeded_renders_are_bit_identical_and_the_seed_matters(models, performance_folder,
                                                                 tmp_path):
    paths = find_performances(performance_folder)
    render_performances(paths, tmp_path / "a", models, CONFIG)
    render_performances(paths, tmp_path / "b", models, CONFIG.model_copy(update={"batch_size": 1}))
    render_performances(paths, tmp_path / "c", models, CONFIG.model_copy(update={"seed": 1}))
    for name in ("show_0.wav", "show_1.wav"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes()  # whatever shares the batch
        assert a != (tmp_path / "c" / name).read_bytes()


def test_a_rerun_skips_finished_renders_and_force_renders_again(models, performance_folder,
                                                                tmp_path):
    paths = find_performances(performance_folder)
    render_performances(paths, tmp_path, models, CONFIG)
    wav = tmp_path / "show_0.wav"
    first = wav.stat().st_mtime_ns
    again = render_performances(paths, tmp_path, models, CONFIG)
    assert again.rendered == [] and len(again.skipped) == 2 and wav.stat().st_mtime_ns == first
    other = render_performances(paths, tmp_path, models,
                                CONFIG.model_copy(update={"batch_size": 2}))
    assert other.rendered == []  # the batch size does not change the audio
    forced = render_performances(paths, tmp_path, models, CONFIG, force=True)
    assert len(forced.rendered) == 2 and wav.stat().st_mtime_ns != first


KILLER = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[6]))  # as the test process: sums in the same order
from tasks.config import RenderConfig
from tasks.render.models import load_render_models
from tasks.render.plan import find_performances
from tasks.render.run import render_performances
models = load_render_models(sys.argv[1], sys.argv[2], device="cpu")
render_performances(find_performances(sys.argv[3]), Path(sys.argv[4]), models,
                    RenderConfig.model_validate_json(sys.argv[5]),
                    on_finished=lambda record: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_killed_render_resumes_without_redoing_finished_files(
        models, tiny_render_checkpoints, performance_folder, tmp_path):
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLER, *map(str, tiny_render_checkpoints),
                             str(performance_folder), str(out), CONFIG.model_dump_json(),
                             str(torch.get_num_threads())],
                            cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    finished = sorted(out.glob("*.wav"))
    assert [p.name for p in finished] == ["show_0.wav"]  # the short one ends first
    stamp = finished[0].stat().st_mtime_ns
    (out / ".show_1.wav.k1ll3d.tmp.wav").write_bytes(b"RIFF")  # as a kill mid-write leaves it

    resumed = render_performances(find_performances(performance_folder), out, models, CONFIG)
    assert [Path(p).name for p in resumed.skipped] == ["show_0.parquet"]
    assert [Path(p).name for p in resumed.rendered] == ["show_1.parquet"]
    assert finished[0].stat().st_mtime_ns == stamp
    assert not list(out.glob(".*tmp*"))
    # the same audio as a render that was never interrupted (to the last bit within one
    # process; show_0 came from another process, whose BLAS may sum in another order)
    whole = tmp_path / "whole"
    render_performances(find_performances(performance_folder), whole, models, CONFIG)
    assert (out / "show_1.wav").read_bytes() == (whole / "show_1.wav").read_bytes()
    a, _ = sf.read(out / "show_0.wav", dtype="int16")
    b, _ = sf.read(whole / "show_0.wav", dtype="int16")
    assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 2
