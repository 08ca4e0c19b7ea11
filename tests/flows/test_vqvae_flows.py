"""The tokenizer flows end to end: rebuild → train-vqvae → tokenize (twice) → detokenize."""

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import CONFIG_DIR

runner = CliRunner()
TINY = str(CONFIG_DIR / "tiny" / "vqvae.yaml")


@pytest.fixture(scope="module")
def home(prefect_harness, short_library, tmp_path_factory):
    home = tmp_path_factory.mktemp("vq_home")
    library = short_library[0].parent
    result = runner.invoke(app, ["rebuild", "--library", str(library), "--home", str(home),
                                 "--json"])
    assert result.exit_code == 0, result.stderr
    return home


def invoke(*args):
    result = runner.invoke(app, [*args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_train_tokenize_detokenize(home, short_library, tmp_path):
    summary = invoke("train-vqvae", "--home", str(home), "--config", TINY, "--max-steps", "8",
                     "--json")
    assert set(summary) == {"checkpoint", "steps", "val_mel_distance", "val_si_sdr",
                            "codebook_usage"}
    assert summary["steps"] == 8 and (home / "checkpoints" / "vqvae" / "vqvae.pt").is_file()
    again = invoke("train-vqvae", "--home", str(home), "--config", TINY, "--max-steps", "10",
                   "--json")
    assert again["steps"] == 10  # resumed from step 8

    first = invoke("tokenize", "--home", str(home), "--config", TINY, "--json")
    assert first["tokenized"] == 3 and first["failed"] == 0
    tokens = home / "artifacts" / "tokens.parquet"
    content = tokens.read_bytes()
    second = invoke("tokenize", "--home", str(home), "--config", TINY, "--json")
    assert second["tokenized"] == 0 and second["skipped"] == 3
    assert tokens.read_bytes() == content
    rows = runner.invoke(app, ["sql", "SELECT count(DISTINCT track_path) AS n FROM tokens",
                               "--home", str(home), "--json"])
    assert json.loads(rows.stdout) == [{"n": 3}]

    one = invoke("tokenize", "--audio", str(short_library[0]), "--out", str(tmp_path / "c.parquet"),
                 "--home", str(home), "--json")
    assert set(one) == {"n_codes", "codes_per_second", "duration_s"}
    assert abs(one["codes_per_second"] - 689) <= 1
    back = invoke("detokenize", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "c.wav"),
                  "--home", str(home), "--json")
    info = sf.info(tmp_path / "c.wav")
    original = sf.info(short_library[0])
    assert info.frames == original.frames and info.samplerate == 44100
    assert back["duration_s"] == pytest.approx(one["duration_s"])

    # the library file holds three tracks: detokenize must be told which
    result = runner.invoke(app, ["detokenize", str(tokens), "--out", str(tmp_path / "x.wav"),
                                 "--home", str(home)])
    assert result.exit_code == 1 and "--track" in result.stderr
    picked = invoke("detokenize", str(tokens), "--out", str(tmp_path / "y.wav"), "--track",
                    str(short_library[1]), "--home", str(home), "--json")
    assert picked["n_codes"] == int(np.ceil(sf.info(short_library[1]).frames / 64))


def test_training_without_a_database_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["train-vqvae", "--home", str(tmp_path), "--config", TINY])
    assert result.exit_code == 1 and "no phrase database" in result.stderr


def test_tokenize_without_a_checkpoint_is_a_one_line_error(tmp_path, short_library):
    result = runner.invoke(app, ["tokenize", "--audio", str(short_library[0]), "--out",
                                 str(tmp_path / "c.parquet"), "--home", str(tmp_path)])
    assert result.exit_code == 1 and "no VQ-VAE checkpoint" in result.stderr


def test_corrupt_checkpoint_via_cli(tmp_path, short_library):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["tokenize", "--audio", str(short_library[0]), "--out",
                                 str(tmp_path / "c.parquet"), "--checkpoint", str(bad)])
    assert result.exit_code == 1
    assert "not a readable checkpoint" in result.stderr and str(bad) in result.stderr
