"""`echelon render`: every recorded performance of a folder to audio, in batches, with a
Parquet manifest of what was made from what.

The recipe: plan (skip what is rendered, record unusable recordings) → load models → one task
run per round of batches (round k makes chunk k of every performance, so the UI shows the
render advance and how long each round took) → finish each performance as its last chunk is
made → manifest and report."""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from flows.runners import RunnerKind, make_task_runner

from storage.checkpoints import CheckpointError
from storage.db import PhraseDatabase
from storage.evaluation_store import EVALUATION_NAME
from storage.home import Home
from storage.locks import folder_lock
from storage.render_manifest import RenderRecord, write_manifest
from storage.stamps import file_sha256
from storage.token_store import read_tokens
from storage.vector_index import load_or_rebuild
from tasks.analysis.embedding import EMBEDDING_VERSION
from tasks.config import RenderConfig, load_render_config
from tasks.mapper.ranking import PhraseMapper
from tasks.models.builders import load_mapper
from tasks.render.models import RenderModels, load_render_models, resolve_sampler
from tasks.render.plan import RenderPlan, find_performances
from tasks.render.retrieval import PhraseCatalog
from tasks.render.run import finish_round, outcome, start_render
from tasks.render.sampling import render_round
from tasks.render.spread import Checkpoints, Shard, cpu_threads, make_shards, render_shard


def _catalog(layout: Home, models: RenderModels, db: str | None) -> PhraseCatalog:
    if not layout.tokens.is_file():
        raise ValueError(f"{layout.tokens}: no tokens; retrieval needs `echelon tokenize` first")
    tokenizer = models.tokenizer
    sequences = [s for s in read_tokens(layout.tokens) if s.model_version == tokenizer.version]
    database = PhraseDatabase.open(layout.db_url(db))
    codebook = tokenizer.model.quantizer.embed.detach().cpu().numpy()
    catalog = PhraseCatalog.from_database(database, sequences, codebook, models.latent_scale,
                                          models.latent_rate)
    catalog.mapper = _mapper(layout, models, database, catalog)
    return catalog


def _mapper(layout: Home, models: RenderModels, database: PhraseDatabase,
            catalog: PhraseCatalog) -> PhraseMapper | None:
    """The home's trained mapper when it fits this render (the same diffusion encoder, vectors
    of the current embedding version); otherwise None, and the hand-made rule chooses."""
    logger = get_run_logger()
    path = layout.mapper_checkpoint
    if not path.is_file():
        logger.info("retrieval: the hand-made rule (no mapper; `echelon train-mapper` makes one)")
        return None
    try:
        tower, config, state = load_mapper(path)
    except CheckpointError as error:  # a broken mapper must not stop the render
        logger.warning("retrieval: the hand-made rule: %s", error)
        return None
    if state.get("diffusion_sha256") != models.diffusion_sha256 or \
            state.get("embedding_version") != EMBEDDING_VERSION:
        logger.warning("retrieval: the hand-made rule: the mapper %s was trained on another "
                       "diffusion model or embedding version; run `echelon train-mapper` again",
                       path)
        return None
    ids, vectors = database.embeddings(EMBEDDING_VERSION)
    index, _ = load_or_rebuild(layout.faiss, ids, vectors, EMBEDDING_VERSION)
    lengths = [c.end_s - c.start_s for c in catalog.candidates]
    logger.info("retrieval: the mapper %s (top %d of the index, re-ranked by tempo)", path,
                config.rerank_k)
    return PhraseMapper(tower, config, index, copy.deepcopy(models.model.encoder).cpu().eval(),
                        models.echelon.motion, float(np.median(lengths)), file_sha256(path))


def _round(plan: RenderPlan, k: int, models: RenderModels, config: RenderConfig,
           catalog: PhraseCatalog | None) -> int:
    made = render_round(plan, k, models, config, catalog)
    logger = get_run_logger()
    finish_round(plan, k, models, on_finished=lambda record: logger.info(
        "%s → %s (%.1f s of audio; seam ratio %.2f)", record.performance,
        plan.out_dir / record.wav, record.duration_s, record.seam_ratio))
    return made


load_models_task = task(name="load diffusion model and VQ-VAE", cache_policy=NO_CACHE)(
    load_render_models)
catalog_task = task(name="load phrase catalog", cache_policy=NO_CACHE)(_catalog)
plan_task = task(name="plan render", cache_policy=NO_CACHE)(start_render)
round_task = task(name="render round", cache_policy=NO_CACHE,
                  task_run_name="round {k}: chunk {k} of each performance")(_round)
shard_task = task(name="render shard", cache_policy=NO_CACHE,
                  task_run_name="shard {shard.index}")(render_shard)


@flow(name="render", log_prints=True)
def render_flow(performances: Path, out: Path, home: Path,
                config: RenderConfig | Path | None = None,
                diffusion_checkpoint: Path | None = None, vqvae_checkpoint: Path | None = None,
                force: bool = False, retrieval: bool | None = None, device: str | None = None,
                db: str | None = None, sampler: dict | None = None,
                evaluate: bool = True, workers: int | None = None,
                runner: RunnerKind = "processes", dask_address: str | None = None) -> dict:
    """Render every recording under `performances` into `out` with the home's diffusion model
    and VQ-VAE (or the given checkpoints); returns one record per performance and the counts.
    `retrieval` overrides the config's retrieval.enabled; `sampler` (kind, steps,
    guidance_scale, eta) overrides fields of the config's or the checkpoint's sampler.
    `evaluate` judges the folder's renders at the end (`echelon evaluate --renders`) when this
    run rendered anything. `workers` > 1 (default: one per device of a comma-separated
    `device`) spreads shards of performances over a `runner` (processes, threads, or Dask
    at `dask_address`); the audio is the same byte for byte as on one worker."""
    config = _config(config, retrieval)
    devices = device.split(",") if device else None
    workers = workers or len(devices or [None])
    spread = workers > 1 or dask_address is not None
    layout = Home(home)
    diffusion_checkpoint = Path(diffusion_checkpoint or layout.diffusion_checkpoint)
    vqvae_checkpoint = Path(vqvae_checkpoint or layout.vqvae_checkpoint)
    out = Path(out).resolve()
    # an output folder inside the performances folder holds no recordings (renders.parquet!)
    paths = [p for p in find_performances(performances) if out not in p.resolve().parents]
    if not paths:
        raise ValueError(f"{performances}: no performance recordings (.parquet, .csv) here")
    with folder_lock(out, ".render.lock", "another render is writing to this folder"):
        # a spread render plans on the CPU: only the workers' copies of the models sample
        models = load_models_task(diffusion_checkpoint, vqvae_checkpoint,
                                  "cpu" if spread else device)
        config = config.model_copy(update={"sampler": resolve_sampler(config, models.config,
                                                                      sampler)})
        catalog = catalog_task(layout, models, db) if config.retrieval.enabled else None
        plan = plan_task(paths, out, models, config, force, catalog)
        if spread:
            _spread(plan, config, Checkpoints(str(diffusion_checkpoint), str(vqvae_checkpoint)),
                    devices, catalog, runner, workers, dask_address)
        else:
            with cpu_threads(config.threads):
                _rounds(plan, models, config, catalog)
    result = outcome(plan, paths)
    for record in result.records:
        if record.status == "failed":
            get_run_logger().warning("not rendered: %s", record.error)
    summary = {"manifest": str(plan.manifest), "out": str(out),
               "records": [r.to_json() for r in result.records], "rendered": result.rendered,
               "skipped": result.skipped, "failed": result.failed}
    _publish(summary, performances, diffusion_checkpoint, vqvae_checkpoint)
    judged = out / EVALUATION_NAME
    if evaluate and any(r.status == "ok" for r in result.records):  # again only when new
        fresh = result.rendered or not judged.is_file()
        summary["evaluation"] = _evaluate(out, layout, db) if fresh else str(judged)
    return summary


def _evaluate(out: Path, layout: Home, db: str | None) -> str | None:
    """Judge the folder's renders (a subflow: its report sits beside the render's); a failure
    here is logged, the renders stand."""
    from flows.evaluate import evaluate_flow

    try:
        return evaluate_flow(renders=out, home=layout.root, db=db)["evaluation"]
    except Exception as error:  # noqa: BLE001 - the renders are done whatever the judge says
        get_run_logger().warning("evaluation of %s failed: %s", out, error)
        return None


def _config(config: RenderConfig | Path | None, retrieval: bool | None) -> RenderConfig:
    if not isinstance(config, RenderConfig):
        config = load_render_config(config)
    if retrieval is None:
        return config
    return config.model_copy(update={"retrieval": config.retrieval.model_copy(
        update={"enabled": retrieval})})


def _rounds(plan: RenderPlan, models: RenderModels, config: RenderConfig,
            catalog: PhraseCatalog | None) -> None:
    """One task run per round; progress as a share of all chunks."""
    progress = create_progress_artifact(0.0 if plan.jobs else 100.0, key="render-progress",
                                        description="Chunks rendered of all performances")
    total, done = sum(len(j.starts) for j in plan.jobs), 0
    for k in range(plan.rounds):
        done += round_task(plan, k, models, config, catalog)
        update_progress_artifact(progress, progress=100.0 * done / total)
        get_run_logger().info("round %d/%d: %d/%d chunks rendered", k + 1, plan.rounds, done,
                              total)


def _spread(plan: RenderPlan, config: RenderConfig, checkpoints: Checkpoints,
            devices: list[str] | None, catalog: PhraseCatalog | None, runner: RunnerKind,
            workers: int, dask_address: str | None) -> None:
    """One task run per shard of `batch_size` performances, on the runner's workers; the
    manifest is rewritten here as each shard comes back. A shard that fails records its
    performances as failed with the reason; the other shards go on."""
    logger = get_run_logger()
    shards = make_shards(plan, config.batch_size, devices)
    if workers * config.threads > (os.cpu_count() or 1) and not dask_address \
            and not any(d.startswith("cuda") for d in devices or []):
        logger.warning("%d workers × %d threads (render.threads) on %d cores: torch's threads "
                       "will wait on each other; set fewer workers or threads", workers,
                       config.threads, os.cpu_count())
    task_runner = make_task_runner(runner, workers, dask_address)
    progress = create_progress_artifact(0.0 if shards else 100.0, key="render-progress",
                                        description="Performances rendered of all to render")
    done = 0
    with task_runner:
        futures = {task_runner.submit(shard_task, {
            "shard": shard, "out_dir": plan.out_dir, "length": plan.length,
            "sampler": plan.sampler, "config": config, "checkpoints": checkpoints,
            "catalog": catalog}): shard for shard in shards}
        for future in as_completed(futures):
            for record in _shard_records(future, futures[future], plan):
                plan.records[record.performance] = record
                logger.info("%s → %s (%.1f s of audio)", record.performance,
                            plan.out_dir / (record.wav or "—"), record.duration_s or 0.0)
            write_manifest(list(plan.records.values()), plan.manifest)
            done += len(futures[future].jobs)
            update_progress_artifact(progress, progress=100.0 * done / len(plan.jobs))


def _shard_records(future, shard: Shard, plan: RenderPlan) -> list[RenderRecord]:
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - one shard never stops the others
        reason = f"shard {shard.index} failed: {type(error).__name__}: {error}"
        get_run_logger().warning(reason)
        plan.failed += [str(job.path) for job in shard.jobs]
        return [replace(job.record, status="failed", wav=None, error=reason)
                for job in shard.jobs]


def _publish(summary: dict, performances: Path, diffusion: Path, vqvae: Path) -> None:
    create_table_artifact(key="render-manifest", table=[
        {k: r[k] for k in ("performance", "status", "wav", "duration_s", "seed", "chunks",
                           "seam_ratio", "error")} for r in summary["records"]],
        description=f"Renders in {summary['out']} (full provenance in {summary['manifest']})")
    create_markdown_artifact(key="render-report", markdown="\n".join([
        "# Render", "",
        f"- performances: `{performances}`; output: `{summary['out']}`; "
        f"manifest: `{summary['manifest']}`",
        f"- rendered {len(summary['rendered'])}, already done {len(summary['skipped'])}, "
        f"failed {len(summary['failed'])}",
        f"- diffusion: `{diffusion}`; VQ-VAE: `{vqvae}`",
    ]), description="What this render made")
