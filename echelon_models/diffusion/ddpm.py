"""DDPM ancestral sampling (https://arxiv.org/abs/2006.11239), on any subset of the times."""

from __future__ import annotations

import torch

from echelon_models.diffusion.noise_schedule import NoiseSchedule, SamplerOutput, SpacedSampler


class DDPMSampler(SpacedSampler):
    def __init__(self, schedule: NoiseSchedule, steps: int | None = None):
        super().__init__(schedule, steps or schedule.steps)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = int(t)
        prev = self.previous(t)
        x0, _ = self.schedule.split(model_output, sample, t)
        a_t, a_prev = float(self.schedule.alpha_bar(t)), float(self.schedule.alpha_bar(prev))
        beta = 1 - a_t / a_prev  # the effective beta between the two times
        mean = ((a_prev ** 0.5 * beta / (1 - a_t)) * x0
                + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t)) * sample)
        if prev < 0:
            return SamplerOutput(mean, x0)
        variance = beta * (1 - a_prev) / (1 - a_t)
        noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype).to(sample.device)
        return SamplerOutput(mean + variance ** 0.5 * noise, x0)
