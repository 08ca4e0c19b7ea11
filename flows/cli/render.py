"""The batch render command: performances → WAVs and renders.parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (CheckpointOption, DaskAddressOption, DbOption,
                              DiffusionCheckpointOption, HomeOption, JsonOption, RunnerOption,
                              check_runner, config_or_fail, console, diffusion_checkpoint, emit,
                              fail, failing, home_dir, vqvae_checkpoint)

RenderConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Render config YAML (default: configs/render.yaml).", dir_okay=False)]
EvaluateOption = Annotated[bool, typer.Option(
    "--evaluate/--no-evaluate", help="Judge the renders at the end (echelon evaluate --renders: "
                                     "evaluation.parquet and a report).")]


def render(
    performances: Annotated[Path, typer.Option("--performances", help="Folder of performance "
                                               "recordings (.parquet/.csv, searched recursively).",
                                               file_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the WAVs and renders.parquet.",
                                      file_okay=False)],
    home: HomeOption = None,
    config: RenderConfigOption = None,
    sampler: Annotated[str | None, typer.Option(
        "--sampler", help="ddim or dpm_solver (euler/heun for flow-matching models); default: "
                          "the config's, else the checkpoint's.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Sampling steps.")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", min=0.0,
                                                   help="Classifier-free guidance scale.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1,
                                                   help="Chunks denoised at once.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (default: the config's).")] = None,
    retrieval: Annotated[bool | None, typer.Option(
        "--retrieval/--no-retrieval", help="Start each chunk from a library phrase of matching "
                                           "tempo and energy (needs rebuild + tokenize).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Render again what is already "
                                                        "rendered with the same settings.")] = False,
    evaluate: EvaluateOption = True,
    diffusion_checkpoint_path: DiffusionCheckpointOption = None,
    checkpoint: CheckpointOption = None,
    device: Annotated[str | None, typer.Option(
        "--device", help="cuda, cuda:1 or cpu (default: CUDA when available); several, "
                         "comma-separated (cuda:0,cuda:1), spread the render over them.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Spread the render over this many workers, shards of "
                                 "--batch-size performances each (default: one per --device); "
                                 "the audio is byte-identical to one worker's.")] = None,
    runner: RunnerOption = "processes",
    dask_address: DaskAddressOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render every performance in a folder to 44.1 kHz WAV, in batches of equal-length
    chunks stitched without seams; write renders.parquet (seed, sampler, checkpoints' hashes,
    timings) beside them. A re-run skips finished renders; a bad recording is recorded as
    failed and the rest go on (exit 1 if any failed). --json prints one record per
    performance."""
    from storage.checkpoints import CheckpointError
    from storage.locks import FolderBusy
    from tasks.config import load_render_config

    if not performances.is_dir():
        fail(f"{performances}: performance folder does not exist")
    check_runner(runner, dask_address)
    cfg = config_or_fail(load_render_config, config).model_copy(update={
        k: v for k, v in (("batch_size", batch_size), ("seed", seed)) if v is not None})
    models = {"diffusion_checkpoint": diffusion_checkpoint(diffusion_checkpoint_path, home),
              "vqvae_checkpoint": vqvae_checkpoint(checkpoint, home)}
    overrides = {k: v for k, v in (("kind", sampler), ("steps", steps),
                                   ("guidance_scale", guidance)) if v is not None}
    from flows.render import render_flow

    with failing(CheckpointError, FolderBusy, ValueError, first_line=True):
        summary = render_flow(performances=performances.resolve(), out=out.resolve(),
                              home=home_dir(home), config=cfg, force=force, retrieval=retrieval,
                              device=device, db=db, sampler=overrides or None,
                              evaluate=evaluate, workers=workers, runner=runner,
                              dask_address=dask_address, **models)
    records = _records(summary)
    emit(records, as_json, lambda: _print_renders(records, summary))
    if summary["failed"]:
        first = next(r for r in records if r["action"] == "failed")
        fail(f"{len(summary['failed'])} performance(s) not rendered; first: {first['error']}")


def _records(summary: dict) -> list[dict]:
    """The flow's records with what this run did to each and the WAV's full path."""
    actions = {**{p: "rendered" for p in summary["rendered"]},
               **{p: "skipped" for p in summary["skipped"]},
               **{p: "failed" for p in summary["failed"]}}
    return [{**r, "action": actions[r["performance"]],
             "wav": str(Path(summary["out"]) / r["wav"]) if r["wav"] else None}
            for r in summary["records"]]


def _print_renders(records: list[dict], summary: dict) -> None:
    table = Table("performance", "result", "wav", "seconds", "seed", "seam", "time (s)",
                  title=f"renders in {summary['out']} (manifest {summary['manifest']})")
    for r in records:
        seconds = sum(r[k] or 0.0 for k in ("conditioning_s", "sampling_s", "decoding_s",
                                             "writing_s"))
        table.add_row(Path(r["performance"]).name, r["action"],
                      Path(r["wav"]).name if r["wav"] else (r["error"] or "")[:80],
                      f"{r['duration_s']:.1f}" if r["duration_s"] else "—",
                      str(r["seed"] or "—"),
                      f"{r['seam_ratio']:.2f}" if r["seam_ratio"] is not None else "—",
                      f"{seconds:.1f}" if r["action"] == "rendered" else "—")
    console.print(table)
