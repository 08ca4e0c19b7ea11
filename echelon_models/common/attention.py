"""Multi-head attention over 1-D sequences: self-attention, or cross-attention to a context."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int = 4, context_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, dim), context (B, M, context_dim) or None for self-attention → (B, N, dim)"""
        B, N, C = x.shape
        context = x if context is None else context
        q = self.to_q(x)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q, k, v = (z.reshape(B, -1, self.heads, C // self.heads).transpose(1, 2)
                   for z in (q, k, v))  # (B, heads, N or M, C / heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C / heads)
        return self.out(out.transpose(1, 2).reshape(B, N, C))
