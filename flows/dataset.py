"""The dataset flow (`echelon rebuild`): library → phrase database, FAISS index, Parquet.

Incremental and restartable: each analysed track is committed on its own, and the index and
Parquet files are derived from the database at the end, so a run killed anywhere and run
again ends in the same state as one that was never interrupted.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_progress_artifact, create_table_artifact,
                               update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run, task_run

from flows import notify
from flows.runners import RunnerKind, make_task_runner
from storage.db import PhraseDatabase, check_integrity
from storage.home import Home
from storage.locks import folder_lock
from storage.parquet_store import export_parquet
from storage.vector_index import load_or_rebuild
from tasks.analysis.audio import decoder_fingerprint
from tasks.analysis.beats import LOW_BEAT_CONFIDENCE, LOW_DOWNBEAT_CONFIDENCE
from tasks.analysis.embedding import EMBEDDING_VERSION
from tasks.config import AnalysisConfig, load_analysis_config
from tasks.dataset.guard import with_retries
from tasks.dataset.rebuild import analyze_chunk, chunked, config_hash, discover, plan_rebuild
from tasks.dataset.reembed import reembed_chunk


def _chunk_run_name(verb: str, path_of):
    """A task run's name in the UI: what it does to the first file of its chunk, and how many
    more there are."""
    def name() -> str:
        items = task_run.parameters["items"]
        more = f" and {len(items) - 1} more" if len(items) > 1 else ""
        return f"{verb} {path_of(items[0])}{more}"
    return name


analyze_chunk_task = task(name="analyze audio files", cache_policy=NO_CACHE,
                          task_run_name=_chunk_run_name("analyze", lambda item: item[0].path)
                          )(analyze_chunk)
reembed_chunk_task = task(name="re-embed phrases", cache_policy=NO_CACHE,
                          task_run_name=_chunk_run_name("re-embed", lambda item: item.path)
                          )(reembed_chunk)


@flow(name="dataset-rebuild", log_prints=True, **notify.HOOKS)
def rebuild_flow(library: Path, home: Path, db: str | None = None,
                 config: AnalysisConfig | Path | None = None, runner: RunnerKind = "threads",
                 workers: int | None = None, dask_address: str | None = None,
                 chunk_size: int | None = None, file_timeout_s: float | None = 900.0,
                 then_tokenize: bool = False) -> dict:
    """Analyse new and changed audio under `library`, drop deleted tracks, refresh the index
    and the Parquet artifacts; returns the run's counts. `runner` chooses where the
    analyses run (threads, processes, or Dask at `dask_address` / a local cluster), in task
    runs of `chunk_size` files (default: at most 1,000 task runs); a file whose analysis
    runs past `file_timeout_s` is recorded as a `timeout` failure. `then_tokenize` (the
    nightly run) refreshes the tokens of new and changed tracks afterwards, as a subflow."""
    logger = get_run_logger()
    library, layout = Path(library), Home(home)
    if not library.is_dir():
        raise ValueError(f"{library}: library folder does not exist")
    if not isinstance(config, AnalysisConfig):
        config = load_analysis_config(config)
    with rebuild_lock(layout):
        summary = _rebuild(library, layout, db, config,
                           make_task_runner(runner, workers, dask_address), logger, chunk_size,
                           file_timeout_s)
    if then_tokenize:
        summary["tokenize"] = _refresh_tokens(layout, db, logger)
    return summary


def _refresh_tokens(layout: Home, db: str | None, logger) -> str:
    """The nightly chain: tokens follow the library, linked to this run in the UI."""
    if not layout.vqvae_checkpoint.is_file():
        logger.info("no VQ-VAE trained yet (%s): tokens not refreshed; run `echelon "
                    "train-vqvae` to start", layout.vqvae_checkpoint)
        return "skipped: no tokenizer trained yet"
    from flows.vqvae import tokenize_flow

    result = tokenize_flow(home=layout.root, db=db)
    return f"{result['tokenized']} tokenized, {result['failed']} failed"


def _reembed(database: PhraseDatabase, task_runner, config: AnalysisConfig,
             chunk_size: int | None, timeout_s: float | None, logger) -> dict:
    """Phrases whose vectors another embedding version made get new ones from their stored
    spans (no re-analysis), a chunk of tracks per task run. Returns the counts for the
    summary: `reembedded` phrases, and `stale_embeddings` left (their files failed)."""
    stale = database.stale_embeddings(EMBEDDING_VERSION)
    if not stale:
        return {"reembedded": 0, "stale_embeddings": 0}
    logger.info("%d tracks carry vectors of another embedding version: re-embedding them with "
                "version %d (their phrases are kept)", len(stale), EMBEDDING_VERSION)
    futures = [task_runner.submit(reembed_chunk_task, {"items": items, "config": config,
                                                       "timeout_s": timeout_s})
               for items in chunked(stale, chunk_size)]
    updated = 0
    for future in as_completed(futures):
        results = future.result()
        for result in results:
            if result.error:
                logger.warning("not re-embedded: %s: %s", result.path, result.error)
        vectors = {i: v for result in results for i, v in result.vectors.items()}
        updated += with_retries(lambda: database.save_embeddings(vectors, EMBEDDING_VERSION))
    return {"reembedded": updated,
            "stale_embeddings": sum(len(t.phrases) for t in stale) - updated}


def rebuild_lock(layout: Home):
    """One rebuild per home at a time, whoever started it (CLI, a deployment, a schedule)."""
    return folder_lock(layout.root, ".rebuild.lock", "another rebuild is running on this database")


def refresh_derived(database: PhraseDatabase, layout: Home, logger) -> list[int]:
    """The FAISS index and the Parquet artifacts, derived again from the database where it
    changed; returns the ids of the phrases indexed."""
    ids, vectors = database.embeddings(EMBEDDING_VERSION)
    index, rebuilt = load_or_rebuild(layout.faiss, ids, vectors, EMBEDDING_VERSION)
    if rebuilt:
        logger.info("FAISS index written: %d phrases, %s", index.size, index.kind)
    export_parquet(database, layout.artifacts)
    return ids


def _rebuild(library: Path, layout: Home, db: str | None, config: AnalysisConfig,
             task_runner, logger, chunk_size: int | None, file_timeout_s: float | None) -> dict:
    database = PhraseDatabase.open(layout.db_url(db))
    check_integrity(database.engine)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    database.start_run(run_id, str(library))

    files = discover(library)
    plan = plan_rebuild(files, database.fingerprints(), config_hash(config), decoder_fingerprint())
    database.touch(plan.touched)
    removed = database.remove_tracks(plan.removed)
    logger.info("%d files: %d to analyse, %d unchanged, %d removed", len(files),
                len(plan.analyze), len(plan.skipped), removed)

    progress = create_progress_artifact(progress=0.0 if plan.analyze else 100.0,
                                        key="dataset-rebuild-progress",
                                        description="Share of the files to analyse that are done")
    analyzed = failed = done = 0
    with task_runner:
        futures = [task_runner.submit(analyze_chunk_task, {"items": items, "config": config,
                                                           "timeout_s": file_timeout_s})
                   for items in chunked(plan.analyze, chunk_size)]
        for future in as_completed(futures):
            records = future.result()
            # one transaction per chunk: a kill loses at most the chunks still running
            with_retries(lambda: database.save_records(records, run_id))
            for record in records:
                if record.status == "ok":
                    analyzed += 1
                else:
                    failed += 1
                    logger.warning("failed: %s: %s (%s)", record.path, record.error, record.reason)
            done += 1
            update_progress_artifact(progress, progress=100.0 * done / len(futures))
        reembedded = _reembed(database, task_runner, config, chunk_size, file_timeout_s, logger)

    ids = refresh_derived(database, layout, logger)

    summary = {"analyzed": analyzed, "skipped": len(plan.skipped), "failed": failed,
               "removed": removed, "phrases": len(ids), "run_id": run_id}
    database.finish_run(run_id, **{k: v for k, v in summary.items() if k != "run_id"})
    summary |= reembedded
    create_table_artifact(key="dataset-rebuild-summary", table=[summary],
                          description=f"Dataset rebuild of {library}")
    doubtful = database.doubtful_tracks(LOW_BEAT_CONFIDENCE, LOW_DOWNBEAT_CONFIDENCE)
    create_table_artifact(
        key="dataset-rebuild-low-confidence",
        table=doubtful or [{"path": "—", "tempo_bpm": "", "beat_confidence": "",
                            "downbeat_confidence": "no track below the confidence levels"}],
        description=f"Tracks whose phrases may be misaligned (beat confidence < "
                    f"{LOW_BEAT_CONFIDENCE} or downbeat confidence < {LOW_DOWNBEAT_CONFIDENCE}, "
                    f"least sure first): check them by ear")
    summary["low_confidence"] = len(doubtful)
    failures = database.failures(run_id)
    create_table_artifact(key="dataset-rebuild-failures",
                          table=failures or [{"path": "—", "reason": "no failures", "detail": ""}],
                          description="Files that could not be analysed in this run, with the reason")
    return summary
