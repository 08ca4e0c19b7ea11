"""Embeddings of scalars and positions shared by the diffusion backbones."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(values: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """(…,) float → (…, dim) sin/cos features at geometric frequencies (Transformer, DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    angles = values.float()[..., None] * freqs  # (…, half)
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return nn.functional.pad(out, (0, dim % 2))


class TimestepEmbedding(nn.Module):
    """(B,) diffusion time (0…1000, or 0…1 scaled up) → (B, dim)."""

    def __init__(self, dim: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(t, self.frequency_dim))
