"""`echelon train-mapper` on the demo's home: it trains, resumes, reports, and says what is
missing in one line."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def home(mission_demo, tmp_path_factory):
    """A copy of the demo's home without its mapper."""
    copy = tmp_path_factory.mktemp("mapper") / "home"
    shutil.copytree(mission_demo[0], copy)
    shutil.rmtree(copy / "checkpoints" / "mapper")
    return copy


def test_train_mapper_trains_resumes_and_reports(home):
    def train(steps):
        result = runner.invoke(app, ["train-mapper", "--home", str(home), "--max-steps",
                                     str(steps), "--json"])
        assert result.exit_code == 0, result.stderr[-2000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    first = train(3)
    assert first["steps"] == 3 and first["windows"] >= first["train_windows"] >= 2
    again = train(5)
    assert again["steps"] == 5 and again["checkpoint"] == first["checkpoint"]
    methods = {r["method"] for r in again["evaluation"]}
    assert {"mapper + tempo", "rule", "chance"} <= methods
    table = runner.invoke(app, ["train-mapper", "--home", str(home), "--max-steps", "5"])
    assert table.exit_code == 0 and "held-out evaluation" in table.stdout
    # the evaluator judges the same mapper on the same held-out pairs
    judged = runner.invoke(app, ["evaluate", "--mapper", "--home", str(home), "--json"])
    assert judged.exit_code == 0, judged.stderr
    assert json.loads(judged.stdout) == again["evaluation"]


def test_a_home_without_a_diffusion_model_is_a_one_line_error(home, tmp_path):
    shutil.copy(home / "motion_audio_pairs.parquet", tmp_path)
    result = runner.invoke(app, ["train-mapper", "--home", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "diffusion.pt: missing; run `echelon train-diffusion`" in result.stderr
    result = runner.invoke(app, ["evaluate", "--mapper", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "mapper.pt: missing; run `echelon train-mapper`" in result.stderr
    both = runner.invoke(app, ["evaluate", "--mapper", "--renders", str(tmp_path)])
    assert both.exit_code == 2


def test_a_broken_mapper_leaves_retrieval_to_the_rule(home, monkeypatch):
    import logging

    import flows.render as render
    from storage.home import Home
    from tasks.render.models import load_render_models

    layout = Home(home)
    monkeypatch.setattr(render, "get_run_logger", lambda: logging.getLogger("test"))
    models = load_render_models(layout.diffusion_checkpoint, layout.vqvae_checkpoint)
    assert render._catalog(layout, models, None).mapper is not None  # trained above
    layout.mapper_checkpoint.write_bytes(b"not a checkpoint")
    catalog = render._catalog(layout, models, None)
    assert catalog.mapper is None and catalog.chooser == ""
