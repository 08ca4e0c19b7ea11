"""A small motion tower that maps a phrase-long window of motion into the phrase embedding's
space, trained with symmetric InfoNCE (CLIP: Radford et al. 2021, arXiv:2103.00020) against
the library's phrase vectors, which stay frozen: the tower learns to point at the music, the
music's vectors do not move towards the motion.

A batch may hold two phrases that sound alike (two drops of one track, one phrase danced by two
dancers). Treating the other as a negative would punish the right answer, so a negative whose
phrase vector is closer than `same_above` to the positive's is masked out (false-negative
elimination, as in Chen et al. 2022, arXiv:2011.11765).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MotionTower(nn.Module):
    """(B, S, in_dim) → (B, out_dim). The first `in_dim − extra` input features are the
    conditioning encoder's; with a few hundred pairs their 256 dimensions are more than the
    tower can learn from without learning the pairs by heart, so they enter through their
    `components` main directions (PCA of the training windows, whitened); the `extra` hand-made
    features (the speeds) are standardised. Both transforms are buffers fitted once
    (`fit_inputs`) and saved with the weights."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128,
                 temperature: float = 0.07, dropout: float = 0.0, extra: int = 2,
                 components: int = 8):
        super().__init__()
        self.in_dim, self.out_dim, self.extra = in_dim, out_dim, extra
        encoded = in_dim - extra
        self.components = min(components, encoded)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("basis", torch.eye(encoded, self.components))  # (encoded, R)
        self.register_buffer("std", torch.ones(extra))
        width = self.components + extra
        self.convs = nn.Sequential(
            nn.Dropout(dropout),
            nn.Conv1d(width, hidden, kernel_size=3, padding=1), nn.GELU(), nn.Dropout(dropout),
            nn.Conv1d(hidden, hidden, kernel_size=3, padding=1), nn.GELU(),
        )
        self.project = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(),
                                     nn.Linear(hidden, out_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    @torch.no_grad()
    def fit_inputs(self, steps: torch.Tensor) -> None:
        """steps (N, S, in_dim) of the training windows."""
        flat = steps.reshape(-1, self.in_dim).double()
        self.mean.copy_(flat.mean(dim=0))
        centred = flat - flat.mean(dim=0)
        encoded = centred[:, :self.in_dim - self.extra]
        _, values, vectors = torch.linalg.svd(encoded, full_matrices=False)  # PCA
        spread = values[:self.components] / math.sqrt(max(1, len(flat) - 1))
        self.basis.copy_(vectors[:self.components].T / spread.clamp(min=1e-6))
        self.std.copy_(centred[:, self.in_dim - self.extra:].std(dim=0).clamp(min=1e-4))

    def inputs(self, steps: torch.Tensor) -> torch.Tensor:
        """(B, S, in_dim) → (B, S, components + extra), each feature about unit variance."""
        x = steps - self.mean
        encoded = x[..., :self.in_dim - self.extra] @ self.basis
        return torch.cat([encoded, x[..., self.in_dim - self.extra:] / self.std], dim=-1)

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        """steps (B, S, in_dim): the window's features in S equal steps → (B, out_dim), unit."""
        h = self.convs(self.inputs(steps).transpose(1, 2))  # (B, hidden, S)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (B, 2·hidden)
        return F.normalize(self.project(pooled), dim=1)  # (B, out_dim)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100.0)).exp()


def symmetric_info_nce(motion: torch.Tensor, phrases: torch.Tensor, scale: torch.Tensor,
                       same_above: float = 0.9) -> torch.Tensor:
    """motion (B, E), phrases (B, E), both unit; row i of each is a pair. The mean of the
    motion → phrase and phrase → motion cross-entropies, false negatives masked."""
    logits = scale * motion @ phrases.T  # (B, B)
    alike = (phrases @ phrases.T) > same_above  # (B, B)
    alike.fill_diagonal_(False)
    logits = logits.masked_fill(alike, float("-inf"))
    labels = torch.arange(len(motion), device=motion.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
