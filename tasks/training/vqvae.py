"""Training the VQ-VAE on random crops of the library's audio.

Resumable on the same curve: each step's crops and codebook restarts are drawn from generators
seeded by (seed, step), and the checkpoint holds the model, the codebook's running averages,
the optimiser and the schedule, so a run stopped at step k and resumed makes the same steps
k+1, k+2, … as one that never stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from echelon_models.vqvae import VQVAE, MelDistance, ReconstructionLoss, si_sdr
from storage.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, weights_version
from storage.home import AUGMENT_LOG, VQVAE_CHECKPOINT
from tasks.config import VQVAEConfig
from tasks.models.builders import VQVAE_KIND, build_vqvae
from tasks.training.audio_crops import AudioCrops
from tasks.training.augment import AugmentLog, audio_batch
from tasks.training.common import (diverged, is_finite, mixed_precision, pick_device,
                                   progress_state, restore_progress, step_generators, warmup_cosine)


@dataclass(frozen=True)
class Validation:
    step: int
    mel_distance: float
    si_sdr: float
    perplexity: float
    codebook_usage: float  # share of the codebook used on the validation crops


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    history: list[dict] = field(default_factory=list)  # one entry per step: loss and its parts
    validations: list[Validation] = field(default_factory=list)

    def summary(self) -> dict:
        last = self.validations[-1]
        return {"checkpoint": str(self.checkpoint), "steps": self.steps,
                "val_mel_distance": round(last.mel_distance, 4),
                "val_si_sdr": round(last.si_sdr, 3),
                "codebook_usage": round(last.codebook_usage, 4)}


def train_vqvae(config: VQVAEConfig, train_paths: list[str], val_paths: list[str],
                checkpoint_dir: Path | str, max_steps: int | None = None,
                device: str | None = None,
                on_step: Callable[[int, dict], None] | None = None,
                on_validation: Callable[[Validation], None] | None = None) -> TrainResult:
    """Train (or resume) until step min(max_steps, config.training.steps)."""
    tc = config.training
    run_device = pick_device(device)
    torch.manual_seed(tc.seed)
    model = build_vqvae(config.model).to(run_device)
    crop_samples = int(round(tc.crop_s * config.model.sample_rate / model.hop)) * model.hop
    train_crops = AudioCrops(train_paths, config.model.sample_rate, crop_samples)
    val_batch = torch.from_numpy(
        AudioCrops(val_paths, config.model.sample_rate, crop_samples).fixed(tc.val_crops))
    loss_fn = ReconstructionLoss(config.model.sample_rate, **tc.loss.model_dump()).to(run_device)
    mel = MelDistance(config.model.sample_rate).to(run_device)

    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=(0.8, 0.99),
                                  weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, tc.warmup_steps, tc.steps))
    checkpoint = Path(checkpoint_dir) / VQVAE_CHECKPOINT
    result = TrainResult(checkpoint, 0)
    if checkpoint.is_file():
        _resume(checkpoint, config, model, optimizer, scheduler, result, run_device)

    def validate() -> Validation:
        v = _validate(model, val_batch, mel, tc.batch_size, result.steps, run_device)
        result.validations.append(v)
        if on_validation:
            on_validation(v)
        return v

    if not result.validations:
        validate()  # the starting point every later figure is compared with
    target = min(tc.steps, max_steps) if max_steps is not None else tc.steps
    log = AugmentLog(checkpoint.parent / AUGMENT_LOG, result.steps) if tc.augment.enabled else None
    model.train()
    while result.steps < target:
        step = result.steps
        rng, generator = step_generators(tc.seed, step)
        if log is not None:
            audio, params = audio_batch(train_crops, tc.augment, tc.seed, step, tc.batch_size)
            log.write(step + 1, params)
        else:
            audio = train_crops.batch(rng, tc.batch_size)
        batch = torch.from_numpy(audio).unsqueeze(1)
        entry = _step(model, batch.to(run_device), generator, loss_fn, optimizer, scheduler,
                      tc.grad_clip, step, checkpoint)  # batch: (B, 1, S)
        result.steps = step + 1
        result.history.append(entry)
        if on_step:
            on_step(result.steps, entry)
        last = result.steps == target
        if result.steps % tc.val_every == 0 or last:
            validate()
            model.train()
        if result.steps % tc.checkpoint_every == 0 or last:
            _save(checkpoint, config, model, optimizer, scheduler, result)
    if not checkpoint.is_file():  # nothing to train (already at the target): still leave one
        _save(checkpoint, config, model, optimizer, scheduler, result)
    return result


def _step(model: VQVAE, batch: torch.Tensor, generator: torch.Generator, loss_fn, optimizer,
          scheduler, grad_clip: float, step: int, checkpoint: Path) -> dict:
    """One optimiser step on a (B, 1, S) batch; the history entry of it."""
    with mixed_precision(batch.device):
        out = model(batch, generator)
        loss, parts = loss_fn(out.wave, batch)
        total = loss + out.quantized.penalty
    if not is_finite(total):
        raise diverged(step + 1, "loss", checkpoint)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if not is_finite(grad_norm):
        raise diverged(step + 1, "gradients", checkpoint)
    optimizer.step()
    scheduler.step()
    return {"step": step + 1, "loss": total.item(), "lr": scheduler.get_last_lr()[0],
            **{k: v.item() for k, v in parts.items()},
            "commitment": out.quantized.penalty.item(),
            "perplexity": float(out.quantized.metrics["perplexity"])}


@torch.no_grad()
def _validate(model: VQVAE, crops: torch.Tensor, mel: MelDistance, batch_size: int, step: int,
              device: torch.device) -> Validation:
    model.eval()
    distances, sdrs, codes = [], [], []
    for start in range(0, len(crops), batch_size):
        batch = crops[start:start + batch_size].unsqueeze(1).to(device)  # (b, 1, S)
        out = model(batch)
        wave = out.wave[..., :batch.shape[-1]].float()
        distances.append(float(mel(wave, batch)) * len(batch))
        sdrs.append(si_sdr(wave, batch).cpu())
        codes.append(out.quantized.codes.flatten().cpu())
    counts = torch.bincount(torch.cat(codes), minlength=model.quantizer.size).float()
    probs = counts / counts.sum()
    perplexity = float(torch.exp(-(probs * torch.log(probs.clamp(min=1e-12))).sum()))
    return Validation(step, sum(distances) / len(crops), float(torch.cat(sdrs).mean()),
                      perplexity, float((counts > 0).float().mean()))


def _save(path: Path, config: VQVAEConfig, model: VQVAE, optimizer, scheduler,
          result: TrainResult) -> None:
    model_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint({
        "kind": VQVAE_KIND,
        "version": weights_version(model_state),
        "model_config": config.model.model_dump(mode="json"),
        "training_config": config.training.model_dump(mode="json"),
        "model": model_state,
        **progress_state(optimizer, scheduler, result),
    }, path)


def _resume(path: Path, config: VQVAEConfig, model: VQVAE, optimizer, scheduler,
            result: TrainResult, device: torch.device) -> None:
    state = load_checkpoint(path, VQVAE_KIND, map_location=device)
    if state.get("model_config") != config.model.model_dump(mode="json"):
        raise CheckpointError(f"{path}: trained with another model config; train in another "
                              "--home or remove the checkpoint to start over")
    model.load_state_dict(state["model"])
    restore_progress(state, optimizer, scheduler, result, Validation)
