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


def test_renders_spread_over_two_worker_processes_equal_one_workers_byte_for_byte(
        prefect_harness, tiny_render_checkpoints, performance_folder, tmp_path):
    from dataclasses import asdict

    from storage.render_manifest import read_manifest
    from tasks.render.models import load_render_models
    from tasks.render.plan import find_performances
    from tasks.render.run import render_performances

    # one thread each: two workers of two threads on two cores spin against each other
    config = RenderConfig(chunk_s=1.0, overlap_s=0.25, batch_size=1, threads=1,
                          sampler=SamplerConfig(kind="ddim", steps=4, guidance_scale=2.0))
    diffusion, vqvae = tiny_render_checkpoints
    # one worker, in this process, batching two performances at a time
    models = load_render_models(diffusion, vqvae, device="cpu")
    paths = find_performances(performance_folder)
    one = render_performances(paths, tmp_path / "one", models,
                              config.model_copy(update={"batch_size": 2}))
    # two worker processes, one performance a shard
    summary = render_flow(performances=performance_folder, out=tmp_path / "two", home=tmp_path,
                          config=config, diffusion_checkpoint=diffusion, vqvae_checkpoint=vqvae,
                          device="cpu", workers=2, runner="processes", evaluate=False)
    assert sorted(summary["rendered"]) == sorted(one.rendered) and len(one.rendered) == 2
    assert sorted(summary["failed"]) == sorted(one.failed)
    for record in one.records:
        if record.status == "ok":
            wav = record.wav
            assert (tmp_path / "one" / wav).read_bytes() == (tmp_path / "two" / wav).read_bytes()

    def provenance(folder):  # the manifest, less when and how long
        keep = lambda r: {k: v for k, v in asdict(r).items()  # noqa: E731
                          if not k.endswith("_s") or k in ("duration_s", "chunk_s", "overlap_s")}
        return sorted((keep(r) for r in read_manifest(folder / "renders.parquet")),
                      key=lambda r: r["performance"])

    two = provenance(tmp_path / "two")
    assert [{k: v for k, v in r.items() if k != "rendered_at"} for r in two] == \
        [{k: v for k, v in r.items() if k != "rendered_at"} for r in provenance(tmp_path / "one")]
    # a second spread run finds everything done
    again = render_flow(performances=performance_folder, out=tmp_path / "two", home=tmp_path,
                        config=config, diffusion_checkpoint=diffusion, vqvae_checkpoint=vqvae,
                        device="cpu", workers=2, evaluate=False)
    assert again["rendered"] == [] and len(again["skipped"]) == 2
