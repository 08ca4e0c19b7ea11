"""The VQ-VAE audio tokenizer: waveform → codes at 1/64 of the sample rate → waveform."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from echelon_models.common.receptive_field import conv_context
from echelon_models.vqvae.blocks import Decoder, Encoder
from echelon_models.vqvae.quantizer import EMACodebook, QuantizedResult


@dataclass
class VQVAEOutput:
    wave: torch.Tensor  # (B, 1, T) reconstruction, T a multiple of the hop
    quantized: QuantizedResult


class VQVAE(nn.Module):
    def __init__(self, sample_rate: int = 44100, channels: int = 64,
                 strides: tuple[int, ...] = (4, 4, 4), codebook_size: int = 2048,
                 codebook_dim: int = 64, commitment: float = 0.25, ema_decay: float = 0.99,
                 dead_code_threshold: float = 1.0):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop = math.prod(strides)
        self.encoder = Encoder(channels, tuple(strides), codebook_dim)
        self.quantizer = EMACodebook(codebook_size, codebook_dim, ema_decay, commitment,
                                     dead_code_threshold)
        self.decoder = Decoder(channels, tuple(strides), codebook_dim)

    @property
    def codes_per_second(self) -> float:
        return self.sample_rate / self.hop

    @property
    def encoder_context(self) -> int:
        """Samples of context each side that make a chunk's codes equal whole-file codes."""
        return conv_context(self.encoder)

    @property
    def decoder_context(self) -> int:
        """Codes of context each side that make a chunk's audio equal whole-sequence audio."""
        return conv_context(self.decoder)  # the decoder's input samples are codes

    def forward(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> VQVAEOutput:
        """wave (B, 1, T) → reconstruction of (B, 1, T rounded up to the hop)."""
        z = self.encoder(self._pad(wave))  # (B, D, L)
        quantized = self.quantizer(z, generator)
        return VQVAEOutput(self.decoder(quantized.x), quantized)

    @torch.no_grad()
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, T) or (B, 1, T) float → (B, ceil(T / hop)) int64 codes."""
        if wave.dim() == 2:
            wave = wave.unsqueeze(1)
        z = self.encoder(self._pad(wave))  # (B, D, L)
        B, D, L = z.shape
        return self.quantizer.nearest(z.transpose(1, 2).reshape(-1, D).float()).view(B, L)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes → (B, 1, L · hop) float waveform."""
        return self.decoder(self.quantizer.lookup(codes.long()))

    def _pad(self, wave: torch.Tensor) -> torch.Tensor:
        extra = (-wave.shape[-1]) % self.hop
        return F.pad(wave, (0, extra)) if extra else wave
