"""`echelon train-diffusion` end to end on the demo's generated library and performances."""

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import CONFIG_DIR

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo_home(mission_demo, tmp_path_factory):
    """A copy of the demo's home — its library and pairs analysed, a (barely) trained
    tokenizer and tokens — without the demo's diffusion model, so training starts afresh."""
    import shutil

    from storage.home import Home

    home = tmp_path_factory.mktemp("diffusion") / "home"
    shutil.copytree(mission_demo[0], home)
    layout = Home(home)
    shutil.rmtree(layout.diffusion_checkpoints)
    for render in layout.validation_renders.glob("diffusion_*"):
        render.unlink()
    assert (home / "motion_audio_pairs.parquet").is_file() and layout.tokens.is_file()
    return home


def test_train_diffusion_flow_and_resume(demo_home):
    tiny = CONFIG_DIR / "tiny" / "diffusion.yaml"
    first = invoke("train-diffusion", "--home", demo_home, "--config", tiny, "--max-steps", 3,
                   "--json")
    assert set(first) == {"checkpoint", "steps", "val_loss"} and first["steps"] == 3
    again = invoke("train-diffusion", "--home", demo_home, "--config", tiny, "--max-steps", 5,
                   "--json")
    assert again["steps"] == 5 and again["checkpoint"] == first["checkpoint"]
    renders = sorted((demo_home / "artifacts" / "validation_renders").glob("diffusion_*.wav"))
    assert [p.name for p in renders] == ["diffusion_step0000000_0.wav",
                                         "diffusion_step0000003_0.wav",
                                         "diffusion_step0000005_0.wav"]


def test_missing_tokens_is_a_one_line_error(demo_home, tmp_path):
    (tmp_path / "motion_audio_pairs.parquet").write_bytes(
        (demo_home / "motion_audio_pairs.parquet").read_bytes())
    result = runner.invoke(app, ["train-diffusion", "--home", str(tmp_path), "--config",
                                 str(CONFIG_DIR / "tiny" / "diffusion.yaml")])
    assert result.exit_code == 1
    assert "tokens.parquet: missing; run `echelon tokenize`" in result.stderr


def test_mismatched_latent_dim_is_a_one_line_error(demo_home):
    result = runner.invoke(app, ["train-diffusion", "--home", str(demo_home), "--max-steps", "1"])
    assert result.exit_code == 1 and "latent_dim is 64" in result.stderr
