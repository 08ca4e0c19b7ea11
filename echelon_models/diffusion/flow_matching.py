"""Conditional flow matching (https://arxiv.org/abs/2210.02747) on the straight path
x_t = (1 − t)·x_0 + t·ε, the model predicting the velocity ε − x_0; sampled from t = 1 to 0 by
Euler or Heun steps. Times are given to the model × 1000, the scale the diffusion times use."""

from __future__ import annotations

import torch

from echelon_models.diffusion.noise_schedule import SamplerOutput

TIME_SCALE = 1000.0


class FlowMatchingObjective:
    def sample_time(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(batch, generator=generator)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return t.float() * TIME_SCALE

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(t))

    def noisy(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
        return (1 - t) * x0 + t * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return noise - x0

    def time_grid(self, levels: int) -> torch.Tensor:
        return torch.linspace(0.02, 0.98, levels)


class EulerSampler:
    def __init__(self, steps: int = 50):
        self.set_timesteps(steps)

    def set_timesteps(self, n: int) -> None:
        self.timesteps = torch.linspace(1.0, 0.0, n + 1)[:-1]
        self._grid = torch.linspace(1.0, 0.0, n + 1)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).float() * TIME_SCALE

    def noise_to(self, x0: torch.Tensor, noise: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        t = float(t)
        return (1 - t) * x0 + t * noise

    def start_index(self, strength: float) -> int:
        return min(len(self.timesteps) - 1, round((1.0 - strength) * len(self.timesteps)))

    def _next(self, t: float) -> float:
        index = int(torch.argmin((self._grid - t).abs()))
        return float(self._grid[index + 1])

    def step(self, model_output: torch.Tensor, t: float | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = float(t)
        x0 = sample - t * model_output
        return SamplerOutput(sample + (self._next(t) - t) * model_output, x0)


class HeunSampler:
    """Second order: each interval is a predictor call then a corrector call, so `timesteps`
    lists each interior time twice (as diffusers' Heun scheduler does)."""

    def __init__(self, steps: int = 25):
        self.set_timesteps(steps)

    def set_timesteps(self, n: int) -> None:
        self._grid = torch.linspace(1.0, 0.0, n + 1)
        self.timesteps = torch.cat([self._grid[:1], self._grid[1:-1].repeat_interleave(2)])
        self._pending: tuple[torch.Tensor, torch.Tensor, float, float] | None = None

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).float() * TIME_SCALE

    noise_to = EulerSampler.noise_to

    def start_index(self, strength: float) -> int:
        """Always a predictor step: index 0, 2, 4, … (a corrector needs the step before)."""
        intervals = len(self._grid) - 1
        return 2 * min(intervals - 1, round((1.0 - strength) * intervals))

    def step(self, model_output: torch.Tensor, t: float | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        t = float(t)
        if self._pending is None:  # predictor: an Euler step to the next time
            index = int(torch.argmin((self._grid - t).abs()))
            t_next = float(self._grid[index + 1])
            predicted = sample + (t_next - t) * model_output
            x0 = sample - t * model_output
            if t_next == 0.0:  # the path ends at the data: no corrector needed
                return SamplerOutput(predicted, x0)
            self._pending = (sample, model_output, t, t_next)
            return SamplerOutput(predicted, x0)
        start, first, t_start, t_next = self._pending  # corrector: average the two slopes
        self._pending = None
        out = start + (t_next - t_start) * 0.5 * (first + model_output)
        return SamplerOutput(out, out - t_next * model_output)
