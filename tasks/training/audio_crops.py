"""Crops of a set of audio files for training: read from disk as needed, never whole files.

A 100-hour library does not fit in memory; soundfile reads just the frames of each crop.
Formats soundfile cannot seek (MP3/M4A through ffmpeg) are decoded whole once and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from tasks.analysis.audio import load_audio, resample


@dataclass(frozen=True)
class CropSource:
    path: str
    duration_s: float
    source_rate: int | None  # None: not seekable, decoded whole


class AudioCrops:
    def __init__(self, paths: list[str], sample_rate: int, crop_samples: int):
        if not paths:
            raise ValueError("no audio to crop from")
        self.sample_rate, self.crop_samples = sample_rate, crop_samples
        self.sources = [self._probe(p) for p in paths]
        self._decoded = lru_cache(maxsize=8)(self._decode_whole)

    @property
    def crop_s(self) -> float:
        return self.crop_samples / self.sample_rate

    def batch(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """(size, crop_samples) float32: random tracks (weighted by length), random starts."""
        picks = rng.choice(len(self.sources), size=size, p=self._track_shares())
        starts = rng.uniform(0.0, 1.0, size=size)
        return np.stack([self.read(int(i), u * max(0.0, self.sources[i].duration_s - self.crop_s))
                         for i, u in zip(picks, starts)])

    def draw(self, rng: np.random.Generator) -> tuple[int, float]:
        """One crop's (source index, start in seconds), as `batch` draws them."""
        index = int(rng.choice(len(self.sources), p=self._track_shares()))
        return index, float(rng.uniform() * max(0.0, self.sources[index].duration_s - self.crop_s))

    def _track_shares(self) -> np.ndarray:
        """Each track's chance of giving a crop: its share of the audio."""
        weights = np.array([max(s.duration_s, 1e-3) for s in self.sources])
        return weights / weights.sum()

    def fixed(self, count: int) -> np.ndarray:
        """(count, crop_samples) float32: the same crops every time, spread over every track."""
        crops = []
        for k in range(count):
            source = self.sources[k % len(self.sources)]
            round_ = k // len(self.sources)
            rounds = -(-count // len(self.sources))
            share = (round_ + 0.5) / rounds
            crops.append(self.read(k % len(self.sources),
                                   share * max(0.0, source.duration_s - self.crop_s)))
        return np.stack(crops)

    def read(self, index: int, start_s: float) -> np.ndarray:
        """(crop_samples,) mono at sample_rate from `start_s`; zero-padded past the end."""
        source = self.sources[index]
        if source.source_rate is None:
            samples = self._decoded(source.path)
            first = int(round(start_s * self.sample_rate))
            crop = samples[first:first + self.crop_samples]
        else:
            rate = source.source_rate
            frames = int(np.ceil(self.crop_s * rate)) + 64  # a little extra for the resampler
            data, _ = sf.read(source.path, start=int(round(start_s * rate)), frames=frames,
                              dtype="float32", always_2d=True)
            crop = data.mean(axis=1)
            if rate != self.sample_rate:
                crop = resample(crop, rate, self.sample_rate)
            crop = crop[:self.crop_samples]
        out = np.zeros(self.crop_samples, np.float32)
        out[:len(crop)] = crop
        return out

    def _probe(self, path: str) -> CropSource:
        try:
            info = sf.info(path)
            return CropSource(path, info.frames / info.samplerate, info.samplerate)
        except (sf.LibsndfileError, RuntimeError):
            audio = self._decode_whole(path)
            return CropSource(path, len(audio) / self.sample_rate, None)

    def _decode_whole(self, path: str) -> np.ndarray:
        return load_audio(Path(path), self.sample_rate).samples
