"""The sampling loop (as in diffusers, the pipeline is just the loop) and classifier-free
guidance."""

from __future__ import annotations

from collections.abc import Callable

import torch

from echelon_models.diffusion.denoiser import MotionConditionedDenoiser

DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, model time) → output


def guided(model: MotionConditionedDenoiser, cond: torch.Tensor | None,
           scale: float) -> DenoiseFn:
    """uncond + scale · (cond − uncond); scale 1 is the conditional model alone (one pass)."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        times = t.expand(x.shape[0]).to(x.device)
        if cond is None or scale == 1.0:
            return model(x, times, cond)
        both = model(torch.cat([x, x]), torch.cat([times, times]),
                     torch.cat([cond, cond]), drop=torch.arange(2 * len(x), device=x.device) >= len(x))
        conditional, unconditional = both.chunk(2)
        return unconditional + scale * (conditional - unconditional)

    return denoise


@torch.no_grad()
def sample(denoise: DenoiseFn, sampler, noise: torch.Tensor,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Run `sampler` from pure noise to data; `noise` (B, C, T) is the starting point."""
    x = noise
    for t in sampler.timesteps:
        out = denoise(x, sampler.model_time(t).reshape(1))
        x = sampler.step(out, t, x, generator).prev_sample
    return x
