"""Encoder and decoder of the VQ-VAE: SEANet-style strided convolutions with dilated residual
units (as in EnCodec / audiocraft, https://arxiv.org/abs/2210.13438), without the LSTM so that
every output depends on a bounded window and long files can be encoded in chunks."""

from __future__ import annotations

import torch
from torch import nn


class ResidualUnit(nn.Module):
    """(B, C, T) → (B, C, T): a dilated 3-tap convolution and a 1×1 mix, added to the input."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation),
            nn.ELU(), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _residual_stack(channels: int) -> list[nn.Module]:
    return [ResidualUnit(channels, d) for d in (1, 3, 9)]


class Encoder(nn.Module):
    """(B, 1, T) → (B, dim, T / prod(strides)); T must be a multiple of prod(strides)."""

    def __init__(self, channels: int, strides: tuple[int, ...], dim: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(1, channels, 7, padding=3)]
        ch = channels
        for s in strides:
            # kernel 2s, padding ceil(s/2): exactly T/s frames out for T a multiple of s
            layers += [*_residual_stack(ch), nn.ELU(),
                       nn.Conv1d(ch, 2 * ch, 2 * s, stride=s, padding=(s + 1) // 2)]
            ch *= 2
        layers += [nn.ELU(), nn.Conv1d(ch, dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.layers(wave)


class Decoder(nn.Module):
    """(B, dim, L) → (B, 1, L · prod(strides)), the encoder mirrored."""

    def __init__(self, channels: int, strides: tuple[int, ...], dim: int):
        super().__init__()
        ch = channels * 2 ** len(strides)
        layers: list[nn.Module] = [nn.Conv1d(dim, ch, 7, padding=3)]
        for s in reversed(strides):
            layers += [nn.ELU(),
                       nn.ConvTranspose1d(ch, ch // 2, 2 * s, stride=s, padding=(s + 1) // 2,
                                          output_padding=s % 2),
                       *_residual_stack(ch // 2)]
            ch //= 2
        layers += [nn.ELU(), nn.Conv1d(ch, 1, 7, padding=3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.layers(latents)
