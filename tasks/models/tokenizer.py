"""Audio ↔ tokens with a trained VQ-VAE, in chunks so that any length fits in memory.

Each chunk is encoded with context on both sides at least as wide as the encoder's receptive
field, and only its middle is kept, so chunked codes equal whole-file codes; decoding does the
same with the decoder's context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from echelon_models.vqvae import VQVAE
from storage.stamps import content_hash
from storage.token_store import TokenSequence
from tasks.analysis.audio import load_audio


@dataclass(frozen=True)
class Tokenizer:
    model: VQVAE
    version: str
    chunk_s: float = 30.0

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    @property
    def hop(self) -> int:
        return self.model.hop

    @property
    def chunk_codes(self) -> int:
        return max(1, int(self.chunk_s * self.sample_rate / self.hop))

    @property
    def context_codes(self) -> tuple[int, int]:
        """(encoder, decoder) context each side, in codes, with a safety factor of two."""
        return (math.ceil(2 * self.model.encoder_context / self.hop) + 1,
                2 * self.model.decoder_context + 1)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


@torch.no_grad()
def encode(tokenizer: Tokenizer, samples: np.ndarray) -> np.ndarray:
    """(N,) float32 at the model's rate → (ceil(N / hop),) int16 codes."""
    hop, n_codes = tokenizer.hop, math.ceil(len(samples) / tokenizer.hop)
    padded = np.zeros(n_codes * hop, np.float32)
    padded[:len(samples)] = samples
    context = tokenizer.context_codes[0]
    out = []
    for first, last, lo, hi in _chunks(n_codes, tokenizer.chunk_codes, context):
        wave = torch.from_numpy(padded[lo * hop:hi * hop]).to(tokenizer.device)[None]  # (1, S)
        codes = tokenizer.model.encode(wave)[0].cpu().numpy()  # (hi - lo,)
        out.append(codes[first - lo:last - lo])
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


@torch.no_grad()
def decode(tokenizer: Tokenizer, codes: np.ndarray, n_samples: int | None = None) -> np.ndarray:
    """(L,) codes → (n_samples or L · hop,) float32 waveform."""
    hop = tokenizer.hop
    codes = np.asarray(codes, np.int64)
    out = []
    for first, last, lo, hi in _chunks(len(codes), tokenizer.chunk_codes,
                                       tokenizer.context_codes[1]):
        chunk = torch.from_numpy(codes[lo:hi]).to(tokenizer.device)[None]  # (1, hi - lo)
        wave = tokenizer.model.decode(chunk)[0, 0].float().cpu().numpy()
        out.append(wave[(first - lo) * hop:(last - lo) * hop])
    wave = np.concatenate(out) if out else np.zeros(0, np.float32)
    return wave[:n_samples] if n_samples is not None else wave


@torch.no_grad()
def decode_latents(tokenizer: Tokenizer, latents: np.ndarray, n_samples: int | None = None,
                   ) -> np.ndarray:
    """(C, L) continuous latents (e.g. generated) → waveform, through their nearest codes: the
    decoder only ever saw codebook vectors."""
    flat = torch.from_numpy(np.ascontiguousarray(latents.T, dtype=np.float32))  # (L, C)
    codes = tokenizer.model.quantizer.nearest(flat.to(tokenizer.device)).cpu().numpy()
    return decode(tokenizer, codes, n_samples)


def _chunks(n: int, chunk: int, context: int):
    """(first, last, lo, hi): keep [first, last) of a window [lo, hi) with context around it."""
    for first in range(0, n, chunk):
        last = min(n, first + chunk)
        yield first, last, max(0, first - context), min(n, last + context)


def tokenize_file(tokenizer: Tokenizer, path: Path | str,
                  track_path: str | None = None) -> TokenSequence:
    """One audio file → its token sequence (raises AudioError for bad audio)."""
    audio = load_audio(path, tokenizer.sample_rate)
    codes = encode(tokenizer, audio.samples)
    return TokenSequence(content_hash(path), track_path or str(path), codes, tokenizer.version,
                         len(audio.samples), tokenizer.sample_rate)
