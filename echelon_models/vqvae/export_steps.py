"""The last call the real-time engine makes, as a module of its own so it exports alone: the
denoiser's latents → waveform, through the nearest codebook entries (the decoder only ever
saw codebook vectors), exactly as a render decodes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from echelon_models.vqvae.vqvae import VQVAE


class LatentDecoderStep(nn.Module):
    """latents (B, D, L) scaled as the denoiser makes them (unit variance) → (B, 1, L · hop)."""

    def __init__(self, vqvae: VQVAE, latent_scale: float):
        super().__init__()
        self.decoder = vqvae.decoder
        self.register_buffer("codebook", vqvae.quantizer.embed.detach().clone())  # (K, D)
        self.latent_scale = float(latent_scale)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.transpose(1, 2) / self.latent_scale  # (B, L, D)
        distance = (z.pow(2).sum(-1, keepdim=True) - 2 * z @ self.codebook.t()
                    + self.codebook.pow(2).sum(1))  # (B, L, K)
        codes = distance.argmin(dim=-1)  # (B, L)
        return self.decoder(F.embedding(codes, self.codebook).transpose(1, 2))  # (B, 1, L·hop)
