"""The render flow in the Prefect UI: one task run per round of batches, read back through
the API, so a render is not one opaque box; the evaluation's report beside it."""

import json
import math
import shutil

from flows.render import render_flow
from storage.evaluation_store import read_evaluation
from tasks.config import RenderConfig, SamplerConfig


def test_a_render_of_three_performances_shows_one_task_run_per_round(
        prefect_harness, tiny_render_checkpoints, performance_folder, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterKey, FlowRunFilter,
                                                FlowRunFilterId)

    folder = tmp_path / "performances"
    folder.mkdir()
    for name in ("show_0.parquet", "show_1.parquet"):
        shutil.copy(performance_folder / name, folder / name)
    shutil.copy(performance_folder / "show_1.parquet", folder / "show_2.parquet")
    config = RenderConfig(chunk_s=1.0, overlap_s=0.25, batch_size=2,
                          sampler=SamplerConfig(kind="ddim", steps=4, guidance_scale=2.0))
    diffusion, vqvae = tiny_render_checkpoints
    state = render_flow(performances=folder, out=tmp_path / "out", home=tmp_path, config=config,
                        diffusion_checkpoint=diffusion, vqvae_checkpoint=vqvae, device="cpu",
                        return_state=True)
    summary = state.result()
    assert len(summary["rendered"]) == 3 and not summary["failed"]
    chunks = max(r["chunks"] for r in summary["records"])
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    rounds = sorted(r.name for r in runs if r.name.startswith("round "))
    assert rounds == sorted(f"round {k}: chunk {k} of each performance" for k in range(chunks))
    assert chunks >= 4  # show_1 is ≈4 s in 1 s chunks: several rounds, each its own run
    assert all(r.state.is_completed() and r.total_run_time.total_seconds() > 0
               for r in runs if r.name.startswith("round "))
    assert {"plan render", "load diffusion model and VQ-VAE"} <= {
        r.name.rsplit("-", 1)[0] for r in runs}

    # the render judged itself: floors from shuffled pairings (no pairs here: no ceilings)
    rows = read_evaluation(summary["evaluation"])
    assert [r["performance"] for r in rows][-1] == "(summary)" and len(rows) == 4
    assert all(0.0 <= r["floor_beat_align"] <= 1.0 for r in rows[:3]
               if not math.isnan(r["floor_beat_align"]))
    assert all(r["diffusion_sha256"] for r in rows[:3])
    assert (tmp_path / "artifacts" / "evaluations.parquet").is_file()  # the home's history
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
            any_=["evaluation-summary", "evaluation-report"])))
    report = next(a for a in artifacts if a.key == "evaluation-report")
    assert "floor (shuffled)" in report.data and "data:image/png;base64," in report.data

    # and through the CLI: the summary of the same folder, again
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--renders", str(tmp_path / "out"), "--home",
                                      str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["renders"] == 3 and figures["ceiling_beat_align"] is None  # no pairs here
    assert figures["floor_tempo_follow"] is not None and "frechet" not in figures  # no library
