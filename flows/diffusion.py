"""`echelon train-diffusion`: the motion-conditioned diffusion model on the motion-audio pairs,
over the latents of the library's tokens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE

from storage.atomic import write_wav
from storage.home import Home
from storage.pair_manifest import read_pairs
from storage.token_store import read_tokens
from tasks.config import DiffusionConfig, EchelonConfig, load_diffusion_config, load_echelon_config
from tasks.models.builders import load_tokenizer
from tasks.models.tokenizer import decode_latents
from tasks.motion.recording import PerformanceError, load_performance
from tasks.training.common import held_out_split
from tasks.training.diffusion import DiffusionValidation, train_diffusion
from tasks.training.latent_pairs import (LatentPair, latent_scale, latents_of, map_motion,
                                         match_pairs)


class TrainingDataError(ValueError):
    """The home folder lacks what diffusion training needs (pairs, tokens, a VQ-VAE)."""


def _prepare(layout: Home, config: DiffusionConfig, echelon: EchelonConfig,
             vqvae_checkpoint: Path) -> tuple[list[LatentPair], dict, list[dict]]:
    logger = get_run_logger()
    for path, how in ((layout.pairs_manifest, "run `echelon pairs --sheet SHEET.csv`"),
                      (layout.tokens, "run `echelon tokenize`"),
                      (vqvae_checkpoint, "run `echelon train-vqvae`")):
        if not Path(path).is_file():
            raise TrainingDataError(f"{path}: missing; {how}")
    tokenizer = load_tokenizer(vqvae_checkpoint)
    sequences = [s for s in read_tokens(layout.tokens) if s.model_version == tokenizer.version]
    if not sequences:
        raise TrainingDataError(f"{layout.tokens}: no tokens from VQ-VAE version "
                                f"{tokenizer.version}; run `echelon tokenize` again")
    codebook = tokenizer.model.quantizer.embed.cpu().numpy()  # (K, C)
    if codebook.shape[1] != config.model.latent_dim:
        raise TrainingDataError(f"model.latent_dim is {config.model.latent_dim} but the VQ-VAE's "
                                f"codebook has {codebook.shape[1]} dimensions")
    listed = read_pairs(layout.pairs_manifest)
    matched, missing = match_pairs([p for p in listed if p.usable], sequences)
    failures = [{"pair": p.pair_id, "reason": f"{p.status}: {p.reason}"}
                for p in listed if not p.usable]
    failures += [{"pair": p.pair_id, "reason": f"no tokens of {p.audio_path} from this VQ-VAE: "
                                               "run `echelon tokenize`"} for p in missing]
    if not matched:
        raise TrainingDataError(f"{layout.pairs_manifest}: no pair is ready for training ("
                                + "; ".join(f"{f['pair']}: {f['reason']}" for f in failures[:3])
                                + ")")
    scale = latent_scale([s for _, s in matched], codebook)
    pairs = []
    for pair, sequence in matched:
        try:
            performance = load_performance(pair.motion_path, echelon.motion)
        except PerformanceError as error:
            failures.append({"pair": pair.pair_id, "reason": str(error)})
            continue
        try:  # read a crop at a time from disk: memory does not grow with the pairs
            performance = map_motion(performance, layout.training_cache)
            latents = latents_of(sequence, codebook, scale, layout.training_cache)
        except OSError as error:  # a read-only or full home: train from memory instead
            logger.warning("pair %s kept in memory (%s)", pair.pair_id, error)
            latents = latents_of(sequence, codebook, scale)
        pairs.append(LatentPair(pair.pair_id, latents, performance,
                                pair.offset_s, tokenizer.model.codes_per_second))
    for f in failures:
        logger.warning("pair %s left out: %s", f["pair"], f["reason"])
    extra = {"latent_scale": scale, "vqvae_version": tokenizer.version,
             "vqvae_checkpoint": str(vqvae_checkpoint),
             "latent_rate": tokenizer.model.codes_per_second}
    return pairs, extra, failures


def _train(config: DiffusionConfig, echelon: EchelonConfig, train: list[LatentPair],
           val: list[LatentPair], layout: Home, vqvae_checkpoint: Path, extra: dict,
           max_steps: int | None, device: str | None) -> dict:
    logger = get_run_logger()
    target = min(config.training.steps, max_steps or config.training.steps)
    progress = create_progress_artifact(0.0, key="diffusion-training-progress",
                                        description=f"Steps done of {target}")
    tokenizer = load_tokenizer(vqvae_checkpoint)
    rows: list[dict] = []

    def on_step(step: int, entry: dict) -> None:
        if step % max(1, target // 100) == 0 or step == target:
            update_progress_artifact(progress, progress=100.0 * step / target)
            logger.info("step %d/%d loss %.4f lr %.2e", step, target, entry["loss"], entry["lr"])

    def on_validation(v: DiffusionValidation) -> None:
        rows.append({"step": v.step, "val_loss": round(v.val_loss, 5),
                     "motion_gain": round(v.motion_gain, 5),
                     **{f"t={k}": round(x, 5) for k, x in v.by_level.items()}})
        logger.info("validation at step %d: loss %.5f (by noise level: %s); without the motion "
                    "the loss is %.5f higher", v.step, v.val_loss,
                    ", ".join(f"{k}: {x:.4f}" for k, x in v.by_level.items()), v.motion_gain)
        create_table_artifact(key="diffusion-validation", table=rows,
                              description="Validation loss per noise level (EMA weights)")

    def on_render(step: int, latents) -> None:
        files = []
        for i, crop in enumerate(latents.numpy()):
            wave = decode_latents(tokenizer, crop / extra["latent_scale"])
            path = layout.validation_renders / f"diffusion_step{step:07d}_{i}.wav"
            write_wav(path, np.clip(wave, -1, 1), tokenizer.sample_rate)
            files.append(path)
        create_markdown_artifact(
            key="diffusion-validation-renders",
            markdown="\n".join([f"# Validation renders at step {step}", ""]
                               + [f"- `{p}`" for p in files]),
            description="Audio generated from held-out motion, decoded by the VQ-VAE")

    result = train_diffusion(config, echelon, train, val, layout.diffusion_checkpoints, max_steps,
                             device, extra, on_step, on_validation, on_render)
    return {**result.summary(), "history": result.history,
            "validations": [vars(v) for v in result.validations]}


prepare_task = task(name="load pairs, tokens and motion", cache_policy=NO_CACHE)(_prepare)
train_task = task(name="train diffusion", cache_policy=NO_CACHE)(_train)


@flow(name="diffusion-training", log_prints=True)
def train_diffusion_flow(home: Path, config: DiffusionConfig | Path | None = None,
                         echelon: EchelonConfig | Path | None = None,
                         max_steps: int | None = None, device: str | None = None,
                         vqvae_checkpoint: Path | None = None) -> dict:
    """Train (or resume) the diffusion model on the home's motion-audio pairs; returns
    checkpoint, steps and the last validation loss. Configs may be given as YAML paths
    (defaults: configs/diffusion.yaml, configs/echelon.yaml)."""
    if not isinstance(config, DiffusionConfig):
        config = load_diffusion_config(config)
    if not isinstance(echelon, EchelonConfig):
        echelon = load_echelon_config(echelon)
    layout = Home(home)
    vqvae_checkpoint = Path(vqvae_checkpoint or layout.vqvae_checkpoint)
    pairs, extra, failures = prepare_task(layout, config, echelon, vqvae_checkpoint)
    train_ids, val_ids = held_out_split(
        [(p.pair_id, hashlib.blake2b(p.pair_id.encode(), digest_size=8).hexdigest())
         for p in pairs], config.training.val_share)
    by_id = {p.pair_id: p for p in pairs}
    get_run_logger().info("%d training pairs, %d held out", len(train_ids), len(val_ids))
    out = train_task(config, echelon, [by_id[i] for i in train_ids], [by_id[i] for i in val_ids],
                     layout, vqvae_checkpoint, extra, max_steps, device)

    history = out["history"]
    stride = max(1, len(history) // 50)
    create_table_artifact(key="diffusion-loss-curve",
                          table=[{"step": h["step"], "loss": round(h["loss"], 5)}
                                 for h in history[::stride]] or [{"step": 0, "loss": None}],
                          description="Training loss (every few steps)")
    first, last = out["validations"][0], out["validations"][-1]
    create_markdown_artifact(key="diffusion-training-report", markdown="\n".join([
        "# Diffusion training", "",
        f"- checkpoint: `{out['checkpoint']}`",
        f"- steps: {out['steps']}; pairs: {len(train_ids)} training, {len(val_ids)} held out; "
        f"left out: {len(failures)}",
        f"- backbone: {config.model.backbone}; objective: {config.noise.objective}; "
        f"sampler: {config.sampler.kind} ({config.sampler.steps} steps, guidance "
        f"{config.sampler.guidance_scale})",
        f"- validation loss: {first['val_loss']:.5f} at step {first['step']} → "
        f"{last['val_loss']:.5f} at step {last['step']}",
    ]), description="Key figures of the diffusion training run")
    return {k: out[k] for k in ("checkpoint", "steps", "val_loss")}
