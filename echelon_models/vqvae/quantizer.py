"""Vector quantizer with an EMA-updated codebook (VQ-VAE-2, https://arxiv.org/abs/1906.00446;
Jukebox's restart of dead codes, https://arxiv.org/abs/2005.00341).

The codebook is not trained by gradients: each entry moves to the running mean of the encoder
outputs assigned to it. The encoder gets a commitment loss and straight-through gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizedResult:
    x: torch.Tensor  # (B, D, T) quantized latents; straight-through to the encoder in training
    codes: torch.Tensor  # (B, T) int64
    penalty: torch.Tensor  # () commitment loss, already weighted
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # perplexity, usage


class EMACodebook(nn.Module):
    def __init__(self, size: int = 2048, dim: int = 64, decay: float = 0.99,
                 commitment: float = 0.25, dead_code_threshold: float = 1.0, eps: float = 1e-5):
        super().__init__()
        self.size, self.dim, self.decay = size, dim, decay
        self.commitment, self.dead_code_threshold, self.eps = commitment, dead_code_threshold, eps
        self.register_buffer("embed", torch.randn(size, dim))  # (K, D)
        self.register_buffer("embed_avg", self.embed.clone())  # (K, D) EMA of assigned sums
        self.register_buffer("cluster_size", torch.zeros(size))  # (K,) EMA of assigned counts
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> QuantizedResult:
        """x (B, D, T) → QuantizedResult; in training the codebook is updated in place."""
        B, D, T = x.shape
        flat = x.transpose(1, 2).reshape(-1, D).float()  # (N, D), N = B·T
        if self.training and not bool(self.initialized):
            self._initialize(flat, generator)
        codes = self.nearest(flat)  # (N,)
        if self.training:
            self._update(flat, codes, generator)
        quantized = F.embedding(codes, self.embed).view(B, T, D).transpose(1, 2).to(x.dtype)
        penalty = self.commitment * F.mse_loss(x, quantized.detach())
        counts = torch.bincount(codes, minlength=self.size).float()
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs.clamp(min=1e-12))).sum())
        metrics = {"perplexity": perplexity, "usage": (counts > 0).float().mean()}
        straight_through = x + (quantized - x).detach()
        return QuantizedResult(straight_through, codes.view(B, T), penalty, metrics)

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) → (N,) index of the closest codebook entry."""
        distance = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t()
                    + self.embed.pow(2).sum(1)[None, :])  # (N, K)
        return distance.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) codes → (B, D, T) latents."""
        return F.embedding(codes, self.embed).transpose(1, 2)

    @torch.no_grad()
    def _initialize(self, flat: torch.Tensor, generator: torch.Generator | None) -> None:
        """Start every code on an encoder output of the first batch, so none starts dead."""
        pick = torch.randint(len(flat), (self.size,), generator=generator, device="cpu")
        self.embed.copy_(flat[pick.to(flat.device)])
        self.embed_avg.copy_(self.embed)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, codes: torch.Tensor,
                generator: torch.Generator | None) -> None:
        counts = torch.bincount(codes, minlength=self.size).float()  # (K,)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, flat)  # (K, D)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        # Laplace smoothing keeps a rarely used code from dividing by ~0
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])

        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(len(flat), (n_dead,), generator=generator, device="cpu")
            self.embed[dead] = flat[pick.to(flat.device)]
            self.cluster_size[dead] = self.dead_code_threshold
            self.embed_avg[dead] = self.embed[dead] * self.dead_code_threshold
