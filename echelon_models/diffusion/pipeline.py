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
           generator: torch.Generator | None = None, start: int = 0,
           known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None,
           known_noise: torch.Tensor | None = None) -> torch.Tensor:
    """Run `sampler` to data from `noise` (B, C, T), the state at `sampler.timesteps[start]`
    (pure noise when start is 0; a noised reference for SDEdit, https://arxiv.org/abs/2108.01073).

    `known` (B, C, T) with `known_mask` (B, 1, T) (1 where known) fixes part of the result:
    before every model call the known frames are replaced by `known` noised to that time, so
    the rest is generated to agree with them (inpainting as in RePaint,
    https://arxiv.org/abs/2201.09865, without its resampling loops). `known_noise` fixes the
    noise they are noised with (per-row seeds); without it, it is drawn at every step."""
    x = noise
    for t in sampler.timesteps[start:]:
        if known is not None:
            eps = known_noise if known_noise is not None else torch.randn(
                x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = torch.lerp(x, sampler.noise_to(known, eps, t), known_mask)
        out = denoise(x, sampler.model_time(t).reshape(1))
        x = sampler.step(out, t, x, generator).prev_sample
    return x
