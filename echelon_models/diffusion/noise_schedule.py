"""Variance-preserving noise schedules and the denoising objective (ε- or v-prediction).

x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, t = 0 … steps − 1. Linear betas as in DDPM
(https://arxiv.org/abs/2006.11239), cosine ᾱ as in improved DDPM
(https://arxiv.org/abs/2102.09672); v = √ᾱ·ε − √(1 − ᾱ)·x_0 (https://arxiv.org/abs/2202.00512).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Prediction = Literal["epsilon", "v"]


@dataclass
class SamplerOutput:
    prev_sample: torch.Tensor  # x at the next (less noisy) time
    pred_original_sample: torch.Tensor  # the model's estimate of x_0 at this step


class NoiseSchedule:
    def __init__(self, kind: Literal["linear", "cosine"] = "cosine", steps: int = 1000,
                 prediction: Prediction = "epsilon"):
        self.kind, self.steps, self.prediction = kind, steps, prediction
        if kind == "linear":
            scale = 1000 / steps  # the DDPM range, for any number of steps
            betas = np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
            alphas_cumprod = np.cumprod(1.0 - betas)
        elif kind == "cosine":
            s = 0.008
            f = np.cos((np.arange(steps + 1) / steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
            alphas_cumprod = np.cumprod(1.0 - betas)
        else:
            raise ValueError(f"unknown noise schedule {kind!r} (linear or cosine)")
        self.alphas_cumprod = torch.from_numpy(alphas_cumprod)  # (steps,) float64

    def alpha_bar(self, t: torch.Tensor | int) -> torch.Tensor:
        """ᾱ at integer times; t = −1 means "no noise" (ᾱ = 1)."""
        t = torch.as_tensor(t)
        value = self.alphas_cumprod[t.clamp(min=0).cpu()]
        return torch.where(t.cpu() < 0, torch.ones_like(value), value)

    def _coefficients(self, t: torch.Tensor, like: torch.Tensor):
        a = self.alpha_bar(t).to(like.device, torch.float64)
        shape = (-1,) + (1,) * (like.dim() - 1)
        return a.sqrt().view(shape).to(like.dtype), (1 - a).sqrt().view(shape).to(like.dtype)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sa, sb = self._coefficients(t, x0)
        return sa * x0 + sb * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the model is trained to output at time t."""
        if self.prediction == "epsilon":
            return noise
        sa, sb = self._coefficients(t, x0)
        return sa * noise - sb * x0

    def split(self, model_output: torch.Tensor, sample: torch.Tensor, t: torch.Tensor | int,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0 estimate, ε estimate) from a model output at time t."""
        t = torch.as_tensor(t).expand(sample.shape[0])
        sa, sb = self._coefficients(t, sample)
        if self.prediction == "epsilon":
            eps = model_output
            return (sample - sb * eps) / sa, eps
        x0 = sa * sample - sb * model_output
        return x0, sb * sample + sa * model_output


class DiffusionObjective:
    """Training side: draw times, noise the latents, say what the model should output, and how
    much each time counts. Min-SNR-γ weighting (https://arxiv.org/abs/2303.09556) keeps the
    nearly noise-free times, whose targets are hardest and least useful, from dominating."""

    def __init__(self, schedule: NoiseSchedule, snr_gamma: float | None = 5.0):
        self.schedule, self.snr_gamma = schedule, snr_gamma

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) loss weight per row."""
        if self.snr_gamma is None:
            return torch.ones(len(t))
        a = self.schedule.alpha_bar(t).float()
        snr = a / (1 - a)
        clipped = snr.clamp(max=self.snr_gamma)
        # the ε-loss weight min(SNR, γ)/SNR, rewritten for the v target (whose loss is (SNR+1)× ε's)
        return clipped / (snr + 1) if self.schedule.prediction == "v" else clipped / snr

    def sample_time(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.schedule.steps, (batch,), generator=generator)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return t.float()

    def noisy(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.schedule.add_noise(x0, noise, t)

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.schedule.target(x0, noise, t)

    def time_grid(self, levels: int) -> torch.Tensor:
        """Evenly spread times for validation by noise level."""
        return torch.linspace(0, self.schedule.steps - 1, levels).round().long()


def spaced_timesteps(train_steps: int, n: int) -> torch.Tensor:
    """n sampling times from train_steps − 1 down to 0, evenly spaced, always starting at the
    noisiest time ("trailing" spacing, https://arxiv.org/abs/2305.08891)."""
    if not 1 <= n <= train_steps:
        raise ValueError(f"sampling steps must be 1…{train_steps}, got {n}")
    return torch.from_numpy(np.round(np.arange(train_steps, 0, -train_steps / n)).astype(np.int64) - 1)


class SpacedSampler:
    """What the samplers over a discrete schedule share: the times they visit, the time the
    model is given, and the next time after t (−1: the end, no noise)."""

    def __init__(self, schedule: NoiseSchedule, steps: int):
        self.schedule = schedule
        self.set_timesteps(steps)

    def set_timesteps(self, n: int) -> None:
        self.timesteps = spaced_timesteps(self.schedule.steps, n)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).float()

    def noise_to(self, x0: torch.Tensor, noise: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """x_0 noised to time t: what the sampler expects to hold at t."""
        return self.schedule.add_noise(x0, noise, torch.as_tensor(t).reshape(1))

    def start_index(self, strength: float) -> int:
        """Index into `timesteps` where a start noised to `strength` (0 … 1 of the way to pure
        noise) begins; 1 is the whole schedule."""
        return min(len(self.timesteps) - 1, round((1.0 - strength) * len(self.timesteps)))

    def previous(self, t: int) -> int:
        later = (self.timesteps < t).nonzero()
        return int(self.timesteps[later[0, 0]]) if len(later) else -1
