"""1-D U-Net denoiser over latent sequences (DDPM's U-Net, https://arxiv.org/abs/2006.11239,
made 1-D), conditioned on a per-frame sequence: FiLM in every residual block
(https://arxiv.org/abs/1709.07871) and cross-attention where the sequence is short."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from echelon_models.common.attention import Attention
from echelon_models.common.embeddings import TimestepEmbedding


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


class ResBlock(nn.Module):
    """(B, C_in, T) → (B, C_out, T); the time embedding and the local conditioning set a scale
    and shift per channel and frame after the first convolution."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, cond_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv1d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(emb_dim, 2 * c_out)
        self.cond = nn.Conv1d(cond_dim, 2 * c_out, 1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv1d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, T), emb (B, E), cond (B, cond_dim, T)"""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = (self.time(emb)[:, :, None] + self.cond(cond)).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class AttentionBlock(nn.Module):
    """Self-attention over the frames, then cross-attention to the conditioning frames."""

    def __init__(self, channels: int, cond_dim: int, heads: int):
        super().__init__()
        self.norm1, self.self_attn = _norm(channels), Attention(channels, heads)
        self.norm2, self.cross_attn = _norm(channels), Attention(channels, heads, cond_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), cond (B, cond_dim, T)"""
        x = x + self.self_attn(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        h = self.norm2(x).transpose(1, 2)  # (B, T, C)
        return x + self.cross_attn(h, cond.transpose(1, 2)).transpose(1, 2)


class UNet1d(nn.Module):
    def __init__(self, in_channels: int = 64, cond_dim: int = 256, base_channels: int = 256,
                 channel_mults: tuple[int, ...] = (1, 2, 4, 8),
                 attention_at: tuple[int, ...] = (4, 8), heads: int = 8, res_blocks: int = 2):
        super().__init__()
        emb_dim = 4 * base_channels
        self.levels = len(channel_mults)
        self.time = TimestepEmbedding(emb_dim)
        self.stem = nn.Conv1d(in_channels, base_channels, 3, padding=1)
        widths = [base_channels * m for m in channel_mults]

        self.down = nn.ModuleList()
        ch = base_channels
        for i, width in enumerate(widths):
            level = nn.ModuleDict({
                "res": nn.ModuleList([ResBlock(ch if j == 0 else width, width, emb_dim, cond_dim)
                                      for j in range(res_blocks)]),
            })
            if 2 ** i in attention_at:
                level["attn"] = AttentionBlock(width, cond_dim, heads)
            if i < self.levels - 1:
                level["downsample"] = nn.Conv1d(width, width, 3, stride=2, padding=1)
            self.down.append(level)
            ch = width

        self.mid1 = ResBlock(ch, ch, emb_dim, cond_dim)
        self.mid_attn = AttentionBlock(ch, cond_dim, heads)
        self.mid2 = ResBlock(ch, ch, emb_dim, cond_dim)

        self.up = nn.ModuleList()
        for i in reversed(range(self.levels)):
            width = widths[i]
            level = nn.ModuleDict({
                "res": nn.ModuleList([ResBlock((ch + width) if j == 0 else width, width,
                                               emb_dim, cond_dim) for j in range(res_blocks)]),
            })
            if 2 ** i in attention_at:
                level["attn"] = AttentionBlock(width, cond_dim, heads)
            if i > 0:
                level["upsample"] = nn.Conv1d(width, width, 3, padding=1)
            self.up.append(level)
            ch = width

        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv1d(ch, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T) noisy latents, t (B,) time, cond (B, T, cond_dim) → (B, C, T)"""
        T = x.shape[-1]
        multiple = 2 ** (self.levels - 1)
        pad = (-T) % multiple  # any length works: pad up, crop back
        x = F.pad(x, (0, pad))
        cond = F.pad(cond.transpose(1, 2), (0, pad), mode="replicate")  # (B, cond_dim, T')
        conds = [cond] + [F.avg_pool1d(cond, 2 ** i) for i in range(1, self.levels)]
        emb = self.time(t)  # (B, E)

        h = self.stem(x)
        skips = []
        for i, level in enumerate(self.down):
            for block in level["res"]:
                h = block(h, emb, conds[i])
            if "attn" in level:
                h = level["attn"](h, conds[i])
            skips.append(h)
            if "downsample" in level:
                h = level["downsample"](h)  # (B, C, T / 2)

        h = self.mid2(self.mid_attn(self.mid1(h, emb, conds[-1]), conds[-1]), emb, conds[-1])

        for k, level in enumerate(self.up):
            i = self.levels - 1 - k
            h = torch.cat([h, skips[i]], dim=1)
            for block in level["res"]:
                h = block(h, emb, conds[i])
            if "attn" in level:
                h = level["attn"](h, conds[i])
            if "upsample" in level:
                h = level["upsample"](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(h)[..., :T]
