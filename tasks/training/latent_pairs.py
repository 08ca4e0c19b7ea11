"""Training examples for the diffusion model: crops of a track's VQ-VAE latents and the motion
windows of the same moments, from the motion-audio pairs.

Latents are the codebook vectors of the stored tokens, scaled to unit variance, made per crop
from the codes (`CodedLatents`: 2 bytes per latent frame held instead of 4 per channel), and
the motion of each pair is read from a memory-mapped file (`map_motion`), so the memory of
training does not grow with the hours of pairs. A crop only starts where the pair's motion
covers all of it: pairs are trimmed, never padded with motion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from echelon_models.diffusion import MotionBatch
from storage.atomic import atomic_path
from storage.pair_manifest import MotionAudioPair
from storage.token_store import TokenSequence
from tasks.config import MotionConfig
from tasks.motion.recording import Performance
from tasks.motion.windows import motion_batch, motion_for_latents


class CodedLatents:
    """(C, L) scaled latents that exist only as codes until a window is asked for:
    `latents[:, a:b]` is (C, b − a) float32, as the dense array would give it."""

    def __init__(self, codes: np.ndarray, codebook: np.ndarray, scale: float):
        self.codes = codes  # (L,) int16
        self.codebook = codebook  # (K, C) float32, shared by every pair
        self.scale = float(scale)

    @property
    def shape(self) -> tuple[int, int]:
        return self.codebook.shape[1], len(self.codes)

    def __getitem__(self, key) -> np.ndarray:
        channels, frames = key if isinstance(key, tuple) else (key, slice(None))
        codes = self.codes[frames].astype(np.int64)
        return (self.codebook[codes].T[channels] * self.scale).astype(np.float32)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = self[:, :]
        return dense if dtype is None else dense.astype(dtype)


@dataclass(frozen=True)
class LatentPair:
    pair_id: str
    latents: np.ndarray | CodedLatents  # (C, L) float32, already scaled
    performance: Performance
    offset_s: float  # audio time = motion recording time + offset_s
    latent_rate: float  # latent frames per second (the VQ-VAE's)

    def usable(self) -> tuple[int, int]:
        """[first, last) latent frames whose time the motion covers."""
        p = self.performance
        start_s = p.start_s + self.offset_s
        end_s = p.start_s + (p.n_frames - 1) / p.frame_rate + self.offset_s
        first = max(0, int(np.ceil(start_s * self.latent_rate)))
        last = min(self.latents.shape[1], int(np.floor(end_s * self.latent_rate)) + 1)
        return first, max(first, last)


def latents_of(sequence: TokenSequence, codebook: np.ndarray, scale: float,
               cache: Path | str | None = None) -> CodedLatents:
    """(L,) codes → (C, L) scaled codebook vectors, made when a crop reads them; with a
    `cache` folder the codes themselves are read from a memory-mapped file."""
    codes = mapped(sequence.codes, cache) if cache is not None else sequence.codes
    return CodedLatents(codes, codebook.astype(np.float32), scale)


def map_motion(performance: Performance, cache: Path | str) -> Performance:
    """The performance with its frames in a memory-mapped file: 20 hours of motion are
    430 MB that a crop reads a few frames of."""
    return replace(performance, frames=mapped(performance.frames.astype(np.float32), cache))


def mapped(array: np.ndarray, folder: Path | str) -> np.memmap:
    """`array` as a read-only memory-mapped .npy under `folder`, named by its content, so
    each is written once and a second run reads the file already there."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
    path = Path(folder) / f"{digest.hexdigest()[:24]}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, array)
    return np.load(path, mmap_mode="r")


def latent_scale(sequences: list[TokenSequence], codebook: np.ndarray) -> float:
    """1 / std of the latents the tokens stand for: the diffusion model sees unit variance."""
    codes = np.concatenate([s.codes for s in sequences]).astype(np.int64)
    counts = np.bincount(codes, minlength=len(codebook)).astype(np.float64)
    mean = counts @ codebook / counts.sum()
    var = counts @ ((codebook - mean) ** 2) / counts.sum()
    return float(1.0 / np.sqrt(max(float(var.mean()), 1e-12)))


def match_pairs(pairs: list[MotionAudioPair], sequences: list[TokenSequence],
                ) -> tuple[list[tuple[MotionAudioPair, TokenSequence]], list[MotionAudioPair]]:
    """Pairs with the tokens of their track (by content hash), and those without."""
    by_id = {s.track_id: s for s in sequences}
    found = [(p, by_id[p.track_id]) for p in pairs if p.track_id in by_id]
    return found, [p for p in pairs if p.track_id not in by_id]


class LatentCrops:
    """Fixed-length crops with a fixed number of motion frames each, so they batch."""

    def __init__(self, pairs: list[LatentPair], crop_latents: int, motion: MotionConfig):
        self.pairs, self.crop_latents, self.motion = pairs, crop_latents, motion
        self.spans = [p.usable() for p in pairs]
        self.usable = [i for i, (a, b) in enumerate(self.spans) if b - a >= crop_latents]
        if not self.usable:
            raise ValueError(f"no pair has {crop_latents} latent frames covered by motion")
        rate = pairs[0].performance.frame_rate / pairs[0].latent_rate
        self.n_motion = int(np.ceil(crop_latents * rate)) + 2

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, MotionBatch]:
        picks = rng.choice(self.usable, size=size)
        starts = [int(rng.integers(self.spans[i][0], self.spans[i][1] - self.crop_latents + 1))
                  for i in picks]
        return self._collate([self.crop(int(i), s) for i, s in zip(picks, starts)])

    def fixed(self, count: int) -> tuple[torch.Tensor, MotionBatch]:
        """The same crops every time, spread over the pairs and their spans."""
        crops = []
        for k in range(count):
            i = self.usable[k % len(self.usable)]
            first, last = self.spans[i]
            rounds = -(-count // len(self.usable))
            share = (k // len(self.usable) + 0.5) / rounds
            crops.append(self.crop(i, first + int(share * (last - first - self.crop_latents))))
        return self._collate(crops)

    def crop(self, index: int, start: int):
        pair = self.pairs[index]
        latents = pair.latents[:, start:start + self.crop_latents]  # (C, L)
        inputs, frame_of_latent = motion_for_latents(
            pair.performance, start / pair.latent_rate - pair.offset_s, self.crop_latents,
            self.motion, pair.latent_rate, self.n_motion)
        return latents, inputs, frame_of_latent

    @staticmethod
    def _collate(crops) -> tuple[torch.Tensor, MotionBatch]:
        latents = torch.from_numpy(np.stack([c[0] for c in crops]))  # (B, C, L)
        return latents, motion_batch([(c[1], c[2]) for c in crops])
