"""The two calls the real-time engine makes, as modules of their own so they export alone:
the conditioning encoder, and one denoiser step without the null-sequence switch (the engine
passes the exported null conditioning itself for guidance's unconditional pass)."""

from __future__ import annotations

import torch
from torch import nn

from echelon_models.diffusion.denoiser import MotionConditionedDenoiser


class DenoiserStep(nn.Module):
    """One denoiser call as the engine makes it: x (B, C, T), t (B,), cond (B, T, 256) → (B, C, T);
    the unconditional pass of guidance takes the learned null sequence as `cond`."""

    def __init__(self, model: MotionConditionedDenoiser):
        super().__init__()
        self.backbone = model.backbone

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.backbone(x, t, cond)


class EncoderStep(nn.Module):
    def __init__(self, model: MotionConditionedDenoiser):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, windows: torch.Tensor, present: torch.Tensor,
                transitions: torch.Tensor) -> torch.Tensor:
        return self.encoder(windows, present, transitions)
