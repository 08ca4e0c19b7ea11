"""The last call the real-time engine makes, as a module of its own so it exports alone: the
denoiser's latents → waveform, through the nearest codebook entries (the decoder only ever
saw codebook vectors), exactly as a render decodes."""

from __future__ import annotations

import torch
from torch import nn

from echelon_models.vqvae.vqvae import VQVAE


class LatentDecoderStep(nn.Module):
    """latents (B, D, L) scaled as the denoiser makes them (unit variance) → (B, 1, L · hop)."""

    def __init__(self, vqvae: VQVAE, latent_scale: float):
        super().__init__()
        self.quantizer, self.decoder = vqvae.quantizer, vqvae.decoder
        self.latent_scale = float(latent_scale)

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.embed  # (K, D)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        B, D, L = latents.shape
        z = (latents / self.latent_scale).transpose(1, 2).reshape(B * L, D)  # (B·L, D)
        codes = self.quantizer.nearest(z).view(B, L)  # the codes a render decodes
        return self.decoder(self.quantizer.lookup(codes))  # (B, 1, L · hop)
