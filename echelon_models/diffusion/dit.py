"""1-D Diffusion Transformer (DiT, https://arxiv.org/abs/2212.09748): patches of latent frames
as tokens, adaLN-zero blocks modulated per token by the time and the local conditioning."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from echelon_models.common.attention import Attention
from echelon_models.common.embeddings import TimestepEmbedding, sinusoidal


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)  # adaLN-zero: every block starts as the identity
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, N, W) tokens, c (B, N, W) per-token conditioning"""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        x = x + gate1 * self.attn(_modulate(self.norm1(x), shift1, scale1))
        return x + gate2 * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class DiT1d(nn.Module):
    def __init__(self, in_channels: int = 64, cond_dim: int = 256, width: int = 512,
                 depth: int = 12, heads: int = 8, patch: int = 4):
        super().__init__()
        self.in_channels, self.width, self.patch = in_channels, width, patch
        self.embed = nn.Conv1d(in_channels, width, patch, stride=patch)
        self.time = TimestepEmbedding(width)
        self.cond = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList([DiTBlock(width, heads) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.final = nn.Linear(width, in_channels * patch)
        for layer in (self.final_ada[-1], self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), t (B,), cond (B, T, cond_dim) → (B, C, T)"""
        B, C, T = x.shape
        pad = (-T) % self.patch
        x = F.pad(x, (0, pad))
        cond = F.pad(cond.transpose(1, 2), (0, pad), mode="replicate")  # (B, cond_dim, T')
        tokens = self.embed(x).transpose(1, 2)  # (B, N, W), N = T' / patch
        N = tokens.shape[1]
        positions = sinusoidal(torch.arange(N, device=x.device), self.width)  # (N, W)
        tokens = tokens + positions.to(tokens.dtype)
        local = F.avg_pool1d(cond, self.patch).transpose(1, 2)  # (B, N, cond_dim)
        c = self.time(t)[:, None, :] + self.cond(local)  # (B, N, W)
        for block in self.blocks:
            tokens = block(tokens, c)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        out = self.final(_modulate(self.final_norm(tokens), shift, scale))  # (B, N, C · patch)
        out = out.reshape(B, N, C, self.patch).permute(0, 2, 1, 3).reshape(B, C, N * self.patch)
        return out[..., :T]
