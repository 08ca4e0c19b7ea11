"""Training the motion → phrase mapper on the pairs' phrase windows.

The phrase vectors stay frozen (they are the FAISS index's); only the motion tower learns.
Resumable on the same curve like the other trainers: each step's batch comes from a generator
seeded by (seed, step), and the checkpoint holds the tower, the optimiser, the schedule and the
history. Validation ranks every held-out window's paired phrase among the whole library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from echelon_models.mapper import symmetric_info_nce
from storage.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, weights_version
from storage.home import MAPPER_CHECKPOINT
from tasks.config import MapperConfig
from tasks.evaluation.mapper import evaluate_mapper
from tasks.mapper.ranking import PhraseLibrary
from tasks.mapper.windows import PhraseWindow
from tasks.models.builders import MAPPER_KIND, build_mapper
from tasks.training.common import (diverged, is_finite, progress_state, restore_progress,
                                   step_generators, warmup_cosine)


@dataclass(frozen=True)
class MapperValidation:
    step: int
    scores: list[dict]  # RetrievalScore rows: each held-out set × method


@dataclass
class MapperTrainResult:
    checkpoint: Path
    steps: int
    history: list[dict] = field(default_factory=list)
    validations: list[MapperValidation] = field(default_factory=list)

    def summary(self) -> dict:
        last = self.validations[-1] if self.validations else None
        return {"checkpoint": str(self.checkpoint), "steps": self.steps,
                "loss": round(self.history[-1]["loss"], 4) if self.history else None,
                "evaluation": last.scores if last else []}


class MapperDataError(ValueError):
    """Too little to learn from: no phrase window, or none whose phrase is in the library."""


def train_mapper(config: MapperConfig, train: list[PhraseWindow],
                 held_out: dict[str, list[PhraseWindow]], library: PhraseLibrary,
                 checkpoint_dir: Path | str, max_steps: int | None = None,
                 extra_state: dict | None = None,
                 on_step: Callable[[int, dict], None] | None = None,
                 on_validation: Callable[[MapperValidation], None] | None = None,
                 ) -> MapperTrainResult:
    """Train (or resume) until step min(max_steps, config.steps). `extra_state` (the embedding
    version, the encoder's weights version) is stored in the checkpoint for renders."""
    columns = library.columns([w.phrase_id for w in train])
    train = [w for w, c in zip(train, columns) if c >= 0]
    columns = columns[columns >= 0]
    if len(train) < 2:
        raise MapperDataError(f"the mapper needs at least 2 phrase windows of pairs whose "
                              f"phrases are in the index; found {len(train)}")
    torch.manual_seed(config.seed)
    steps = torch.from_numpy(np.stack([w.steps for w in train]))  # (N, S, F)
    targets = torch.from_numpy(library.vectors[columns])  # (N, E)
    tower = build_mapper(config, steps.shape[2], targets.shape[1])
    tower.fit_inputs(steps)  # a resumed run loads the same transforms with the weights
    optimizer = torch.optim.AdamW(tower.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, min(20, config.steps // 10), config.steps))
    checkpoint = Path(checkpoint_dir) / MAPPER_CHECKPOINT
    result = MapperTrainResult(checkpoint, 0)
    if checkpoint.is_file():
        _resume(checkpoint, config, tower, optimizer, scheduler, result)

    def validate() -> None:
        scores = evaluate_mapper(tower, held_out, library, config)
        v = MapperValidation(result.steps, [s.row() for s in scores])
        result.validations.append(v)
        if on_validation:
            on_validation(v)

    if not result.validations:
        validate()
    target = min(config.steps, max_steps) if max_steps is not None else config.steps
    batch = min(config.batch_size, len(train))
    while result.steps < target:
        step = result.steps
        rng, _ = step_generators(config.seed, step)
        pick = torch.from_numpy(rng.choice(len(train), size=batch, replace=False))
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout: a resumed run repeats it
        tower.train()
        loss = symmetric_info_nce(tower(steps[pick]), targets[pick], tower.scale(),
                                  config.same_above)
        if not is_finite(loss):
            raise diverged(step + 1, "loss", checkpoint)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        result.steps = step + 1
        entry = {"step": step + 1, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                 "temperature": 1.0 / tower.scale().item()}
        result.history.append(entry)
        if on_step:
            on_step(result.steps, entry)
        last = result.steps == target
        if result.steps % config.val_every == 0 or last:
            validate()
        if result.steps % config.checkpoint_every == 0 or last:
            _save(checkpoint, config, tower, optimizer, scheduler, result, steps.shape[2],
                  targets.shape[1], extra_state or {})
    if not checkpoint.is_file():
        _save(checkpoint, config, tower, optimizer, scheduler, result, steps.shape[2],
              targets.shape[1], extra_state or {})
    return result


def _save(path: Path, config: MapperConfig, tower, optimizer, scheduler,
          result: MapperTrainResult, in_dim: int, out_dim: int, extra: dict) -> None:
    state = {k: v.detach().cpu() for k, v in tower.state_dict().items()}
    save_checkpoint({"kind": MAPPER_KIND, "version": weights_version(state),
                     "config": config.model_dump(mode="json"), "in_dim": in_dim,
                     "out_dim": out_dim, "tower": state,
                     **progress_state(optimizer, scheduler, result), **extra}, path)


def _resume(path: Path, config: MapperConfig, tower, optimizer, scheduler,
            result: MapperTrainResult) -> None:
    state = load_checkpoint(path, MAPPER_KIND)
    try:
        tower.load_state_dict(state["tower"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: trained with another tower shape or encoder; remove "
                              "the checkpoint to start over") from error
    restore_progress(state, optimizer, scheduler, result, MapperValidation)

