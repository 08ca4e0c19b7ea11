"""DPM-Solver++ (2M), the multistep second-order solver in data prediction
(https://arxiv.org/abs/2211.01095): close to DDIM-50 quality in about 20 steps."""

from __future__ import annotations

import math

import torch

from echelon_models.diffusion.noise_schedule import NoiseSchedule, SamplerOutput, SpacedSampler


class DPMSolverSampler(SpacedSampler):
    def __init__(self, schedule: NoiseSchedule, steps: int = 20):
        super().__init__(schedule, steps)

    def set_timesteps(self, n: int) -> None:
        super().set_timesteps(n)
        self._previous_x0: torch.Tensor | None = None  # the last step's x_0 estimate
        self._previous_h: float | None = None

    def _alpha_sigma_lambda(self, t: int) -> tuple[float, float, float]:
        a = float(self.schedule.alpha_bar(t))
        alpha, sigma = math.sqrt(a), math.sqrt(max(1 - a, 0.0))
        return alpha, sigma, (math.log(alpha / sigma) if sigma > 0 else math.inf)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = int(t)
        prev = self.previous(t)
        x0, _ = self.schedule.split(model_output, sample, t)
        alpha_t, sigma_t, lambda_t = self._alpha_sigma_lambda(t)
        alpha_s, sigma_s, lambda_s = self._alpha_sigma_lambda(prev)

        if prev < 0:  # the last step lands on σ = 0: the first-order update is x_0 itself
            out = x0
            h = None
        else:
            h = lambda_s - lambda_t
            d = x0
            if self._previous_x0 is not None and self._previous_h is not None:
                r = self._previous_h / h
                d = x0 + (x0 - self._previous_x0) / (2 * r)  # second-order correction
            out = (sigma_s / sigma_t) * sample - alpha_s * math.expm1(-h) * d
        self._previous_x0, self._previous_h = x0, h
        return SamplerOutput(out, x0)
