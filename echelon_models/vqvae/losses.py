"""Reconstruction losses and metrics: multi-resolution STFT (Parallel WaveGAN,
https://arxiv.org/abs/1910.11480), log-mel L1, waveform L1, and SI-SDR
(https://arxiv.org/abs/1811.02508)."""

from __future__ import annotations

import librosa
import torch
import torch.nn.functional as F
from torch import nn

RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))  # (n_fft, hop)


def _magnitude(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, T) → (B, F, frames) STFT magnitude."""
    window = torch.hann_window(n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


class MultiResolutionSTFTLoss(nn.Module):
    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) each → () spectral convergence + log-magnitude L1, averaged over sizes."""
        est, ref = estimate.squeeze(1).float(), target.squeeze(1).float()
        total = est.new_zeros(())
        for n_fft, hop in RESOLUTIONS:
            e, r = _magnitude(est, n_fft, hop), _magnitude(ref, n_fft, hop)
            convergence = torch.linalg.norm(r - e) / torch.linalg.norm(r).clamp(min=1e-7)
            total = total + convergence + F.l1_loss(torch.log(e), torch.log(r))
        return total / len(RESOLUTIONS)


class MelDistance(nn.Module):
    """L1 between log-mel spectrograms: the loss and the validation metric."""

    def __init__(self, sample_rate: int = 44100, n_fft: int = 2048, hop: int = 512,
                 n_mels: int = 80):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)  # (M, F)
        self.register_buffer("bank", torch.from_numpy(bank).float(), persistent=False)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) → (B, M, frames)"""
        power = _magnitude(wave.squeeze(1).float(), self.n_fft, self.hop) ** 2
        return torch.log(self.bank @ power + 1e-5)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(self.log_mel(estimate), self.log_mel(target))


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B, …, T) each → (B,) scale-invariant signal-to-distortion ratio in dB."""
    est = estimate.reshape(len(estimate), -1).double()
    ref = reference.reshape(len(reference), -1).double()
    est, ref = est - est.mean(1, keepdim=True), ref - ref.mean(1, keepdim=True)
    scale = (est * ref).sum(1, keepdim=True) / (ref.pow(2).sum(1, keepdim=True) + eps)
    target = scale * ref
    noise = est - target
    ratio = target.pow(2).sum(1) / (noise.pow(2).sum(1) + eps)
    return (10 * torch.log10(ratio + eps)).float()


class ReconstructionLoss(nn.Module):
    def __init__(self, sample_rate: int = 44100, stft: float = 1.0, mel: float = 1.0,
                 waveform: float = 0.1):
        super().__init__()
        self.weights = {"stft": stft, "mel": mel, "waveform": waveform}
        self.stft = MultiResolutionSTFTLoss()
        self.mel = MelDistance(sample_rate)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(B, 1, T) each → (total, parts)"""
        parts = {"stft": self.stft(estimate, target), "mel": self.mel(estimate, target),
                 "waveform": F.l1_loss(estimate.float(), target.float())}
        total = sum(self.weights[k] * v for k, v in parts.items())
        return total, parts
