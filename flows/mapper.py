"""`echelon train-mapper`: the motion → phrase mapper on the pairs' phrases, against the
phrase vectors of the index (frozen), on the diffusion model's conditioning encoder."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_progress_artifact, create_table_artifact,
                               update_progress_artifact)
from prefect.cache_policies import NO_CACHE

from storage.checkpoints import CheckpointError
from storage.db import PhraseDatabase
from storage.home import Home
from storage.pair_manifest import read_pairs
from storage.stamps import file_sha256
from tasks.analysis.embedding import EMBEDDING_VERSION
from tasks.config import MapperConfig, load_mapper_config
from tasks.mapper.ranking import PhraseLibrary
from tasks.mapper.windows import PhraseWindow, phrase_windows, split_windows
from tasks.evaluation.mapper import evaluate_mapper
from tasks.models.builders import load_diffusion, load_mapper
from tasks.motion.recording import PerformanceError, load_performance
from tasks.training.mapper import MapperDataError, MapperValidation, train_mapper


def _windows(layout: Home, config: MapperConfig, db: str | None,
             ) -> tuple[list[PhraseWindow], PhraseLibrary, dict, list[dict]]:
    """Every covered phrase of every `ok` pair, the library they are ranked in, what the
    checkpoint must remember, and the pairs left out with their reasons."""
    for path, how in ((layout.pairs_manifest, "run `echelon pairs --sheet SHEET.csv`"),
                      (layout.diffusion_checkpoint, "run `echelon train-diffusion` (the mapper "
                                                    "reads motion through its encoder)")):
        if not Path(path).is_file():
            raise MapperDataError(f"{path}: missing; {how}")
    if not layout.has_database(db):
        raise MapperDataError(f"{layout.db_file}: missing; run `echelon rebuild`")
    model, _, echelon, state = load_diffusion(layout.diffusion_checkpoint)
    phrases = [p for p in PhraseDatabase.open(layout.db_url(db), read_only=True).phrases()
               if p.embedding_version == EMBEDDING_VERSION]
    if not phrases:
        raise MapperDataError("no phrase of the database has vectors of embedding version "
                              f"{EMBEDDING_VERSION}; run `echelon rebuild`")
    by_track: dict[str, list] = {}
    for p in phrases:
        by_track.setdefault(p.track_hash, []).append(p)
    windows, left_out = [], []
    for pair in read_pairs(layout.pairs_manifest):
        if not pair.usable:
            left_out.append({"pair": pair.pair_id, "reason": f"{pair.status}: {pair.reason}"})
            continue
        if pair.track_id not in by_track:
            left_out.append({"pair": pair.pair_id, "reason": "its track has no phrases in the "
                                                             "database: run `echelon rebuild`"})
            continue
        try:
            performance = load_performance(pair.motion_path, echelon.motion)
        except PerformanceError as error:
            left_out.append({"pair": pair.pair_id, "reason": str(error)})
            continue
        found = phrase_windows(pair.pair_id, pair.track_id, pair.offset_s, performance,
                               by_track[pair.track_id], model.encoder, echelon.motion, config)
        if not found:
            left_out.append({"pair": pair.pair_id, "reason": "the recording covers no whole "
                                                             "phrase of its track"})
        windows += found
    extra = {"embedding_version": EMBEDDING_VERSION, "encoder_version": str(state["version"]),
             "diffusion_checkpoint": str(layout.diffusion_checkpoint),
             "diffusion_sha256": file_sha256(layout.diffusion_checkpoint)}
    return windows, PhraseLibrary.of(phrases), extra, left_out


def _train(config: MapperConfig, windows: list[PhraseWindow], library: PhraseLibrary,
           layout: Home, extra: dict, max_steps: int | None) -> dict:
    logger = get_run_logger()
    split = split_windows(windows, config.val_share)
    logger.info("%d phrase windows to train on; held out: %s", len(split.train),
                ", ".join(f"{len(v)} of {k}" for k, v in split.held_out().items()))
    target = min(config.steps, max_steps or config.steps)
    progress = create_progress_artifact(0.0, key="mapper-training-progress",
                                        description=f"Steps done of {target}")

    def on_step(step: int, entry: dict) -> None:
        if step % max(1, target // 50) == 0 or step == target:
            update_progress_artifact(progress, progress=100.0 * step / target)
            logger.info("step %d/%d loss %.4f", step, target, entry["loss"])

    def on_validation(v: MapperValidation) -> None:
        create_table_artifact(key="mapper-evaluation", table=v.scores,
                              description=f"Held-out recall of the paired phrase at step "
                                          f"{v.step}: the mapper (with the tempo re-rank renders "
                                          f"use), tempo alone, the hand-made rule, chance")

    result = train_mapper(config, split.train, split.held_out(), library,
                          layout.mapper_checkpoints, max_steps, extra, on_step, on_validation)
    history = result.history
    stride = max(1, len(history) // 50)
    create_table_artifact(key="mapper-loss-curve",
                          table=[{"step": h["step"], "loss": round(h["loss"], 5)}
                                 for h in history[::stride]] or [{"step": 0, "loss": None}],
                          description="Symmetric InfoNCE on the training windows")
    return {**result.summary(), "windows": len(windows), "train_windows": len(split.train)}


windows_task = task(name="phrase windows of the pairs", cache_policy=NO_CACHE)(_windows)
train_task = task(name="train mapper", cache_policy=NO_CACHE)(_train)


@flow(name="mapper-training", log_prints=True)
def train_mapper_flow(home: Path, config: MapperConfig | Path | None = None,
                      max_steps: int | None = None, db: str | None = None) -> dict:
    """Train (or resume) the motion → phrase mapper; returns checkpoint, steps, loss and the
    held-out evaluation. Config default: configs/mapper.yaml."""
    if not isinstance(config, MapperConfig):
        config = load_mapper_config(config)
    layout = Home(home)
    windows, library, extra, left_out = windows_task(layout, config, db)
    for item in left_out:
        get_run_logger().warning("pair %s left out: %s", item["pair"], item["reason"])
    out = train_task(config, windows, library, layout, extra, max_steps)
    return {**out, "left_out": left_out}


def held_out_evaluation(layout: Home, db: str | None = None) -> list[dict]:
    """The home's trained mapper judged again on its held-out windows (`echelon evaluate
    --mapper`): the pairs, database and diffusion model as they are now."""
    if not layout.mapper_checkpoint.is_file():
        raise MapperDataError(f"{layout.mapper_checkpoint}: missing; run `echelon train-mapper`")
    tower, config, state = load_mapper(layout.mapper_checkpoint)
    windows, library, extra, _ = _windows(layout, config, db)
    if state.get("diffusion_sha256") != extra["diffusion_sha256"] or \
            state.get("embedding_version") != extra["embedding_version"]:
        raise CheckpointError(f"{layout.mapper_checkpoint}: trained on another diffusion model "
                              "or embedding version; run `echelon train-mapper` again")
    split = split_windows(windows, config.val_share)
    return [s.row() for s in evaluate_mapper(tower, split.held_out(), library, config)]
