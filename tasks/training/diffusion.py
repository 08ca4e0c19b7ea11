"""Training the motion-conditioned diffusion model on latent crops of the motion-audio pairs.

The conditioning encoder trains with the denoiser. Motion is dropped from a share of the rows
(classifier-free guidance), EMA weights are kept for validation and sampling, gradients can be
accumulated over several batches. Every random draw of a step comes from generators seeded by
(seed, step), so the run is deterministic given its seed and a resumed run repeats the curve.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from echelon_models.diffusion import MotionBatch, MotionConditionedDenoiser
from storage.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, weights_version
from storage.home import AUGMENT_LOG, DIFFUSION_CHECKPOINT
from tasks.config import DiffusionConfig, EchelonConfig
from tasks.models.builders import DIFFUSION_KIND, build_denoiser, build_objective
from tasks.models.generation import generate_latents
from tasks.training.augment import AugmentLog, motion_crop_batch
from tasks.training.common import (diverged, is_finite, mixed_precision, pick_device,
                                   progress_state, restore_progress, step_generators, warmup_cosine)
from tasks.training.latent_pairs import LatentCrops, LatentPair


@dataclass(frozen=True)
class DiffusionValidation:
    step: int
    val_loss: float  # mean over the noise levels
    by_level: dict[str, float]  # model time → loss at that noise level
    motion_gain: float = 0.0  # loss without the motion minus loss with it: > 0 when it is used


@dataclass
class DiffusionTrainResult:
    checkpoint: Path
    steps: int
    history: list[dict] = field(default_factory=list)
    validations: list[DiffusionValidation] = field(default_factory=list)

    def summary(self) -> dict:
        return {"checkpoint": str(self.checkpoint), "steps": self.steps,
                "val_loss": round(self.validations[-1].val_loss, 5)}


def train_diffusion(config: DiffusionConfig, echelon: EchelonConfig, train_pairs: list[LatentPair],
                    val_pairs: list[LatentPair], checkpoint_dir: Path | str,
                    max_steps: int | None = None, device: str | None = None,
                    extra_state: dict | None = None,
                    on_step: Callable[[int, dict], None] | None = None,
                    on_validation: Callable[[DiffusionValidation], None] | None = None,
                    on_render: Callable[[int, torch.Tensor], None] | None = None,
                    ) -> DiffusionTrainResult:
    """Train (or resume) until step min(max_steps, config.training.steps). `extra_state` (e.g.
    the latent scale and the VQ-VAE version) is stored in the checkpoint for the renderer."""
    tc = config.training
    run_device = pick_device(device)
    torch.manual_seed(tc.seed)
    model = build_denoiser(config, echelon).to(run_device)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    objective = build_objective(config.noise)
    train_crops = LatentCrops(train_pairs, tc.crop_latents, echelon.motion)
    val_latents, val_motion = LatentCrops(val_pairs, tc.crop_latents, echelon.motion).fixed(
        tc.val_crops)

    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, tc.warmup_steps, tc.steps))
    checkpoint = Path(checkpoint_dir) / DIFFUSION_CHECKPOINT
    result = DiffusionTrainResult(checkpoint, 0)
    if checkpoint.is_file():
        _resume(checkpoint, config, echelon, model, ema, optimizer, scheduler, result, run_device)

    def validate() -> None:
        v = _validate(ema, objective, val_latents, val_motion, tc, result.steps, run_device)
        result.validations.append(v)
        if on_validation:
            on_validation(v)
        if on_render and tc.val_renders:
            on_render(result.steps, _render_validation(ema, val_motion, config))

    if not result.validations:
        validate()
    target = min(tc.steps, max_steps) if max_steps is not None else tc.steps
    log = AugmentLog(checkpoint.parent / AUGMENT_LOG, result.steps) if tc.augment.enabled else None
    model.train()
    while result.steps < target:
        step = result.steps
        entry = _step(model, objective, train_crops, optimizer, scheduler, tc, step, checkpoint,
                      run_device, log)
        _update_ema(ema, model, tc.ema_decay, step)
        result.steps = step + 1
        result.history.append(entry)
        if on_step:
            on_step(result.steps, entry)
        last = result.steps == target
        if result.steps % tc.val_every == 0 or last:
            validate()
        if result.steps % tc.checkpoint_every == 0 or last:
            _save(checkpoint, config, echelon, model, ema, optimizer, scheduler, result,
                  extra_state or {})
    if not checkpoint.is_file():
        _save(checkpoint, config, echelon, model, ema, optimizer, scheduler, result,
              extra_state or {})
    return result


def _step(model: MotionConditionedDenoiser, objective, crops: LatentCrops, optimizer, scheduler,
          tc, step: int, checkpoint: Path, device: torch.device,
          log: AugmentLog | None = None) -> dict:
    """One optimiser step over `tc.grad_accum` batches; the history entry of it. With a `log`
    the batches are augmented and their parameters written to it."""
    optimizer.zero_grad(set_to_none=True)
    loss_sum, drawn = 0.0, []
    for part in range(tc.grad_accum):
        rng, generator = step_generators(tc.seed, step, part)
        if log is not None:
            latents, motion, params = motion_crop_batch(crops, tc.augment, tc.seed, step,
                                                        tc.batch_size, part * tc.batch_size)
            drawn += params
        else:
            latents, motion = crops.batch(rng, tc.batch_size)
        loss = _loss(model, objective, latents.to(device), motion.to(device), generator,
                     tc.cond_dropout, device) / tc.grad_accum
        if not is_finite(loss):
            raise diverged(step + 1, "loss", checkpoint)
        loss.backward()
        loss_sum += loss.item()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
    if not is_finite(grad_norm):
        raise diverged(step + 1, "gradients", checkpoint)
    optimizer.step()
    scheduler.step()
    if log is not None:
        log.write(step + 1, drawn)
    return {"step": step + 1, "loss": loss_sum, "lr": scheduler.get_last_lr()[0],
            "grad_norm": float(grad_norm)}


def _loss(model: MotionConditionedDenoiser, objective, latents: torch.Tensor, motion,
          generator: torch.Generator, cond_dropout: float, device: torch.device) -> torch.Tensor:
    """Denoising loss of one batch; `generator` draws times, noise and which rows lose motion."""
    B = len(latents)
    t = objective.sample_time(B, generator)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    drop = (torch.rand(B, generator=generator) < cond_dropout).to(device)
    t = t.to(device)
    with mixed_precision(device):
        cond = model.encode_motion(motion)
        out = model(objective.noisy(latents, noise, t), objective.model_time(t), cond, drop)
    error = (out.float() - objective.target(latents, noise, t).float()).pow(2).mean(dim=(1, 2))
    return (objective.weight(t.cpu()).to(device) * error).mean()


@torch.no_grad()
def _validate(ema: MotionConditionedDenoiser, objective, latents: torch.Tensor, motion, tc,
              step: int, device: torch.device) -> DiffusionValidation:
    """Loss at fixed noise levels with fixed noise, on held-out crops, with the EMA weights."""
    latents, motion = latents.to(device), motion.to(device)
    generator = torch.Generator().manual_seed(tc.seed + 7)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    cond = ema.encode_motion(motion)
    by_level, without_motion = {}, []
    for level in objective.time_grid(tc.val_levels):
        t = level.expand(len(latents)).to(device)
        noisy, target = objective.noisy(latents, noise, t), objective.target(latents, noise, t)
        for c, losses in ((cond, None), (None, without_motion)):
            loss = float(F.mse_loss(ema(noisy, objective.model_time(t), c).float(), target.float()))
            if losses is None:
                by_level[f"{float(objective.model_time(level)):.0f}"] = loss
            else:
                losses.append(loss)
    mean = sum(by_level.values()) / len(by_level)
    return DiffusionValidation(step, mean, by_level, sum(without_motion) / len(without_motion) - mean)


def _render_validation(ema: MotionConditionedDenoiser, val_motion: MotionBatch,
                       config: DiffusionConfig) -> torch.Tensor:
    """(n, C, L) latents sampled for the first `val_renders` held-out crops' motion."""
    tc = config.training
    motion = _rows(val_motion, min(tc.val_renders, len(val_motion.windows)))
    latents = generate_latents(ema, motion, tc.crop_latents, config.noise, config.sampler,
                               torch.Generator().manual_seed(tc.seed))
    return latents.cpu()


def _rows(motion: MotionBatch, n: int) -> MotionBatch:
    return MotionBatch(motion.windows[:n], motion.present[:n], motion.transitions[:n],
                       motion.frame_of_latent[:n])


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """EMA with warm-up: early on the average follows the model closely (decay grows with the
    step count), so short runs validate on weights that have learned something."""
    rate = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - rate)


def _save(path: Path, config: DiffusionConfig, echelon: EchelonConfig, model, ema, optimizer,
          scheduler, result: DiffusionTrainResult, extra: dict) -> None:
    ema_state = {k: v.detach().cpu() for k, v in ema.state_dict().items()}
    save_checkpoint({
        "kind": DIFFUSION_KIND,
        "version": weights_version(ema_state),
        "config": config.model_dump(mode="json"),
        "echelon_config": echelon.model_dump(mode="json"),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "ema": ema_state,
        **progress_state(optimizer, scheduler, result),
        **extra,
    }, path)


def _resume(path: Path, config: DiffusionConfig, echelon: EchelonConfig, model, ema, optimizer,
            scheduler, result: DiffusionTrainResult, device: torch.device) -> None:
    state = load_checkpoint(path, DIFFUSION_KIND, map_location=device)
    if (state.get("config", {}).get("model") != config.model.model_dump(mode="json")
            or state.get("echelon_config") != echelon.model_dump(mode="json")):
        raise CheckpointError(f"{path}: trained with another model or motion config; train in "
                              "another --home or remove the checkpoint to start over")
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    restore_progress(state, optimizer, scheduler, result, DiffusionValidation)
