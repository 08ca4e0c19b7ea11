"""Latents from motion with a trained denoiser: the sampling loop that validation renders and
benchmarks share (batch renders add chunking and inpainting in tasks/render)."""

from __future__ import annotations

import torch

from echelon_models.diffusion import MotionBatch, MotionConditionedDenoiser, guided, sample
from tasks.config import NoiseConfig, SamplerConfig
from tasks.models.builders import build_sampler


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
