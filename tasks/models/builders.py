"""Every model, built from config or loaded from a checkpoint, in one place (in the manner of
audiocraft's `builders.py`): training, tokenize, render and export all come here, so a model's
shape has one definition and a checkpoint one reader."""

from __future__ import annotations

from pathlib import Path

import torch

from echelon_models.conditioning import EchelonEncoder
from echelon_models.diffusion import (DDIMSampler, DDPMSampler, DiffusionObjective, DiT1d,
                                      DPMSolverSampler, EulerSampler, FlowMatchingObjective,
                                      HeunSampler, MotionConditionedDenoiser, NoiseSchedule, UNet1d)
from echelon_models.mapper import MotionTower
from echelon_models.vqvae import VQVAE
from storage.checkpoints import CheckpointError, load_checkpoint
from tasks.config import (DiffusionConfig, EchelonConfig, MapperConfig, NoiseConfig,
                          SamplerConfig, VQVAEModelConfig)
from tasks.models.tokenizer import Tokenizer

VQVAE_KIND = "vqvae"  # the "kind" a checkpoint is saved with and checked against on load
DIFFUSION_KIND = "diffusion"
MAPPER_KIND = "mapper"


def build_vqvae(config: VQVAEModelConfig) -> VQVAE:
    return VQVAE(**config.model_dump())


def load_vqvae(path: Path | str, device: str | torch.device = "cpu") -> tuple[VQVAE, str]:
    """The model of a checkpoint, in eval mode, and its weights version."""
    state = load_checkpoint(path, VQVAE_KIND, map_location=device)
    with _matching(path):
        model = build_vqvae(VQVAEModelConfig.model_validate(state["model_config"]))
        model.load_state_dict(state["model"])
    return model.to(device).eval(), str(state["version"])


def load_tokenizer(checkpoint: Path | str, chunk_s: float = 30.0,
                   device: str | torch.device = "cpu") -> Tokenizer:
    model, version = load_vqvae(checkpoint, device)
    return Tokenizer(model, version, chunk_s)


def build_encoder(config: EchelonConfig = EchelonConfig(), seed: int | None = 0) -> EchelonEncoder:
    """The conditioning encoder of `config`, in eval mode; `seed` fixes its initial weights."""
    if seed is not None:
        torch.manual_seed(seed)
    return EchelonEncoder(window=config.window, past=config.motion.window_past,
                          **config.encoder.model_dump()).eval()


def build_denoiser(config: DiffusionConfig, echelon: EchelonConfig) -> MotionConditionedDenoiser:
    m = config.model
    cond_dim = echelon.encoder.output_dim
    if m.backbone == "unet":
        u = m.unet
        backbone = UNet1d(m.latent_dim, cond_dim, u.base_channels, u.channel_mults,
                          u.attention_at, u.heads, u.res_blocks)
    else:
        d = m.dit
        backbone = DiT1d(m.latent_dim, cond_dim, d.width, d.depth, d.heads, d.patch)
    return MotionConditionedDenoiser(backbone, build_encoder(echelon, seed=None))


def load_diffusion(path: Path | str, device: str | torch.device = "cpu",
                   ) -> tuple[MotionConditionedDenoiser, DiffusionConfig, EchelonConfig, dict]:
    """The EMA model of a checkpoint in eval mode, its configs and the whole state."""
    state = load_checkpoint(path, DIFFUSION_KIND, map_location=device)
    with _matching(path):
        config = DiffusionConfig.model_validate(state["config"])
        echelon = EchelonConfig.model_validate(state["echelon_config"])
        model = build_denoiser(config, echelon)
        model.load_state_dict(state["ema"])
    return model.to(device).eval(), config, echelon, state


def build_mapper(config: MapperConfig, in_dim: int, out_dim: int) -> MotionTower:
    return MotionTower(in_dim, out_dim, config.hidden, config.temperature, config.dropout,
                       components=config.components)


def load_mapper(path: Path | str) -> tuple[MotionTower, MapperConfig, dict]:
    """The tower of a mapper checkpoint in eval mode, its config and the whole state (which
    holds the embedding version and the encoder it was trained on)."""
    state = load_checkpoint(path, MAPPER_KIND)
    with _matching(path):
        config = MapperConfig.model_validate(state["config"])
        tower = build_mapper(config, int(state["in_dim"]), int(state["out_dim"]))
        tower.load_state_dict(state["tower"])
    return tower.eval(), config, state


def build_objective(noise: NoiseConfig):
    if noise.objective == "flow_matching":
        return FlowMatchingObjective()
    return DiffusionObjective(NoiseSchedule(noise.schedule, noise.train_steps, noise.prediction),
                              noise.snr_gamma)


def build_sampler(noise: NoiseConfig, sampler: SamplerConfig, steps: int | None = None):
    """A fresh sampler: multistep samplers keep state between steps, so one per sampling run."""
    steps = steps or sampler.steps
    if sampler.kind in ("euler", "heun"):
        return EulerSampler(steps) if sampler.kind == "euler" else HeunSampler(steps)
    schedule = NoiseSchedule(noise.schedule, noise.train_steps, noise.prediction)
    if sampler.kind == "ddpm":
        return DDPMSampler(schedule, steps)
    if sampler.kind == "ddim":
        return DDIMSampler(schedule, sampler.eta, steps)
    return DPMSolverSampler(schedule, steps)


class _matching:
    """A checkpoint whose weights or config do not fit its model → CheckpointError."""

    def __init__(self, path: Path | str):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _trace):
        if isinstance(error, (KeyError, RuntimeError, ValueError)) and \
                not isinstance(error, CheckpointError):
            raise CheckpointError(f"{self.path}: checkpoint does not match its model "
                                  f"({str(error).splitlines()[0][:200]})") from error
        return False
