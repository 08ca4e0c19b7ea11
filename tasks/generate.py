"""Building the diffusion model and its sampler from config, and generating latents from motion."""

from __future__ import annotations

import torch

from echelon_models.diffusion import (DDIMSampler, DDPMSampler, DiffusionObjective, DiT1d,
                                      DPMSolverSampler, EulerSampler, FlowMatchingObjective,
                                      HeunSampler, MotionBatch, MotionConditionedDenoiser,
                                      NoiseSchedule, UNet1d, guided, sample)
from tasks.conditioning import build_encoder
from tasks.config import DiffusionConfig, EchelonConfig, NoiseConfig, SamplerConfig


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


def build_objective(noise: NoiseConfig):
    if noise.objective == "flow_matching":
        return FlowMatchingObjective()
    return DiffusionObjective(NoiseSchedule(noise.schedule, noise.train_steps, noise.prediction),
                              noise.snr_gamma)


def build_sampler(noise: NoiseConfig, sampler: SamplerConfig, steps: int | None = None):
    steps = steps or sampler.steps
    if sampler.kind in ("euler", "heun"):
        return EulerSampler(steps) if sampler.kind == "euler" else HeunSampler(steps)
    schedule = NoiseSchedule(noise.schedule, noise.train_steps, noise.prediction)
    if sampler.kind == "ddpm":
        return DDPMSampler(schedule, steps)
    if sampler.kind == "ddim":
        return DDIMSampler(schedule, sampler.eta, steps)
    return DPMSolverSampler(schedule, steps)


@torch.no_grad()
def generate_latents(model: MotionConditionedDenoiser, motion: MotionBatch, length: int,
                     noise_config: NoiseConfig, sampler_config: SamplerConfig,
                     generator: torch.Generator, steps: int | None = None,
                     guidance_scale: float | None = None) -> torch.Tensor:
    """(B, C, length) latents for the motion of each row (scaled as in training). A fresh
    sampler each call: multistep samplers keep state between steps."""
    device = next(model.parameters()).device
    cond = model.encode_motion(motion.to(device))  # (B, length, 256)
    channels = model.backbone_channels
    noise = torch.randn((len(cond), channels, length), generator=generator).to(device)
    sampler = build_sampler(noise_config, sampler_config, steps)
    scale = sampler_config.guidance_scale if guidance_scale is None else guidance_scale
    return sample(guided(model, cond, scale), sampler, noise, generator)
