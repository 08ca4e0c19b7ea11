"""What a render needs loaded: the diffusion model and the VQ-VAE it was trained on, checked
against each other, and the sampler the render will use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError

from echelon_models.diffusion import MotionConditionedDenoiser
from storage.checkpoints import CheckpointError
from storage.stamps import file_sha256
from tasks.config import DiffusionConfig, EchelonConfig, RenderConfig, SamplerConfig
from tasks.models.builders import load_diffusion, load_tokenizer
from tasks.models.tokenizer import Tokenizer
from tasks.training.common import pick_device


@dataclass
class RenderModels:
    model: MotionConditionedDenoiser
    config: DiffusionConfig
    echelon: EchelonConfig
    latent_scale: float
    tokenizer: Tokenizer
    diffusion_checkpoint: str
    diffusion_sha256: str
    vqvae_checkpoint: str
    vqvae_sha256: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def latent_rate(self) -> float:
        return self.tokenizer.model.codes_per_second


def load_render_models(diffusion_checkpoint: Path | str, vqvae_checkpoint: Path | str,
                       device: str | None = None) -> RenderModels:
    """The EMA diffusion model and the VQ-VAE it was trained on; refuses a VQ-VAE whose latents
    the diffusion model never saw."""
    target = pick_device(device)
    model, config, echelon, state = load_diffusion(diffusion_checkpoint, target)
    tokenizer = load_tokenizer(vqvae_checkpoint, device=target)
    if "latent_scale" not in state:
        raise CheckpointError(f"{diffusion_checkpoint}: no latent_scale; train it with "
                              f"`echelon train-diffusion`")
    trained_on = state.get("vqvae_version")
    if trained_on and trained_on != tokenizer.version:
        raise CheckpointError(f"{vqvae_checkpoint}: VQ-VAE version {tokenizer.version}, but the "
                              f"diffusion model was trained on {trained_on}")
    return RenderModels(model, config, echelon, float(state["latent_scale"]), tokenizer,
                        str(diffusion_checkpoint), file_sha256(diffusion_checkpoint),
                        str(vqvae_checkpoint), file_sha256(vqvae_checkpoint))


def resolve_sampler(render: RenderConfig, diffusion: DiffusionConfig,
                    overrides: dict | None = None) -> SamplerConfig:
    """The render config's sampler, else the checkpoint's, with `overrides` (kind, steps,
    guidance_scale) applied; a ValueError says why when it does not fit the model."""
    sampler = render.sampler or diffusion.sampler
    try:
        if overrides:
            sampler = SamplerConfig.model_validate({**sampler.model_dump(), **overrides})
        DiffusionConfig.model_validate({**diffusion.model_dump(), "sampler": sampler.model_dump()})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"sampler{' ' + where if where else ''}: {first['msg']}") from None
    return sampler
