"""DDIM (https://arxiv.org/abs/2010.02502): η = 0 is the deterministic probability-flow sampler,
η = 1 is as noisy as DDPM."""

from __future__ import annotations

import torch

from echelon_models.diffusion.noise_schedule import NoiseSchedule, SamplerOutput, SpacedSampler


class DDIMSampler(SpacedSampler):
    def __init__(self, schedule: NoiseSchedule, eta: float = 0.0, steps: int = 50):
        self.eta = eta
        super().__init__(schedule, steps)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = int(t)
        prev = self.previous(t)
        x0, eps = self.schedule.split(model_output, sample, t)
        a_t, a_prev = float(self.schedule.alpha_bar(t)), float(self.schedule.alpha_bar(prev))
        sigma = self.eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
        direction = max(0.0, 1 - a_prev - sigma ** 2) ** 0.5 * eps
        prev_sample = a_prev ** 0.5 * x0 + direction
        if sigma > 0:
            noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype)
            prev_sample = prev_sample + sigma * noise.to(sample.device)
        return SamplerOutput(prev_sample, x0)
