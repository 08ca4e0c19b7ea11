"""DDPM ancestral sampling (https://arxiv.org/abs/2006.11239), on any subset of the times."""

from __future__ import annotations

import torch

from echelon_models.diffusion.noise_schedule import NoiseSchedule, SamplerOutput, spaced_timesteps


class DDPMSampler:
    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        self.set_timesteps(schedule.steps)

    def set_timesteps(self, n: int) -> None:
        self.timesteps = spaced_timesteps(self.schedule.steps, n)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).float()

    def _previous(self, t: int) -> int:
        later = (self.timesteps < t).nonzero()
        return int(self.timesteps[later[0, 0]]) if len(later) else -1

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = int(t)
        prev = self._previous(t)
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
