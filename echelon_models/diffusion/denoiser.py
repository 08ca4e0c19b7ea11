"""One denoiser interface over both backbones, with the motion encoder in front of it.

`MotionConditionedDenoiser(x_t, t, cond)` where `cond` (B, T, 256) is the conditioning encoder's
output gathered onto the latent frames, or None for the unconditional model that classifier-free
guidance (https://arxiv.org/abs/2207.12598) needs: None and dropped rows use a learned null
sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from echelon_models.conditioning import EchelonEncoder


class Backbone(Protocol):
    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), t (B,), cond (B, T, cond_dim) → (B, C, T)"""


@dataclass
class MotionBatch:
    """Encoder inputs for N motion frames per example and the frame each latent takes."""

    windows: torch.Tensor  # (B, N, D, W, 25)
    present: torch.Tensor  # (B, N, D) bool
    transitions: torch.Tensor  # (B, N, W)
    frame_of_latent: torch.Tensor  # (B, T) int64 index into N

    def to(self, device: torch.device | str) -> "MotionBatch":
        return MotionBatch(*(x.to(device) for x in (self.windows, self.present,
                                                     self.transitions, self.frame_of_latent)))


class MotionConditionedDenoiser(nn.Module):
    def __init__(self, backbone: nn.Module, encoder: EchelonEncoder):
        super().__init__()
        self.backbone, self.encoder = backbone, encoder
        self.null = nn.Parameter(torch.zeros(encoder.output_dim))

    @property
    def backbone_channels(self) -> int:
        """C of the latents (B, C, T) the backbone denoises."""
        backbone = self.backbone
        return backbone.stem.in_channels if hasattr(backbone, "stem") else backbone.in_channels

    def encode_motion(self, motion: MotionBatch) -> torch.Tensor:
        """→ (B, T, 256): each latent frame's conditioning vector."""
        frames = self.encoder(motion.windows, motion.present, motion.transitions)  # (B, N, 256)
        index = motion.frame_of_latent[..., None].expand(-1, -1, frames.shape[-1])
        return torch.gather(frames, 1, index)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, T), t (B,), cond (B, T, 256) or None, drop (B,) bool: rows to uncondition."""
        B, _, T = x.shape
        null = self.null.to(x.dtype).expand(B, T, -1)
        if cond is None:
            cond = null
        elif drop is not None:
            cond = torch.where(drop[:, None, None], null, cond)
        return self.backbone(x, t, cond)
