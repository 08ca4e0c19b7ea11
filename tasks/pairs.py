"""Motion-audio pairs as training examples: an audio crop and the motion that goes with it.

A pair's usable span is where its audio and its motion overlap: motion that stops before the
audio ends trims the pair; nothing is padded with invented motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from storage.pair_manifest import MotionAudioPair
from tasks.audio import load_audio
from tasks.config import EchelonConfig
from tasks.motion import Performance, load_performance
from tasks.motion_windows import ConditioningInputs, conditioning_inputs, frames_for_latents


@dataclass(frozen=True)
class PairExample:
    pair_id: str
    audio_start_s: float  # where the crop starts in the audio
    audio: np.ndarray  # (S,) float32 mono, S = n_latents · hop
    inputs: ConditioningInputs  # encoder inputs for the N motion frames the crop touches
    frame_of_latent: np.ndarray  # (n_latents,) int64 index into `inputs` for each latent frame

    @property
    def n_latents(self) -> int:
        return len(self.frame_of_latent)


@dataclass(frozen=True)
class UsableSpan:
    start_s: float  # audio time
    end_s: float

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


def usable_span(audio_duration_s: float, performance: Performance, offset_s: float) -> UsableSpan:
    """Audio time covered by both the audio and the motion (audio time = motion t + offset)."""
    motion_start = performance.start_s + offset_s
    motion_end = performance.start_s + (performance.n_frames - 1) / performance.frame_rate + offset_s
    return UsableSpan(max(0.0, motion_start), min(audio_duration_s, motion_end))


class PairDataset(torch.utils.data.Dataset):
    """Non-overlapping crops of `crop_s` seconds over each pair's usable span, in order.

    Crops are a whole number of latent frames long so audio and latents line up exactly.
    Audio and motion are decoded once per pair and kept (the demo and test sets are small;
    a 20-hour set would stream instead).
    """

    def __init__(self, pairs: list[MotionAudioPair], crop_s: float,
                 config: EchelonConfig = EchelonConfig(), sample_rate: int = 44100,
                 hop: int = 64):
        self.pairs = list(pairs)
        self.config, self.sample_rate, self.hop = config, sample_rate, hop
        self.n_latents = max(1, int(round(crop_s * sample_rate / hop)))
        self.crop_s = self.n_latents * hop / sample_rate
        self._load = lru_cache(maxsize=None)(self._load_pair)
        self.spans = [usable_span(len(a.samples) / sample_rate, p, pair.offset_s)
                      for pair in self.pairs for a, p in [self._load(pair.pair_id)]]
        self.index = [(i, span.start_s + k * self.crop_s)
                      for i, span in enumerate(self.spans)
                      for k in range(int(span.duration_s // self.crop_s))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> PairExample:
        pair_index, start_s = self.index[i]
        return self.crop(pair_index, start_s)

    def random_crop(self, rng: np.random.Generator) -> PairExample:
        """A crop at a random start inside a random pair's usable span (for training)."""
        usable = [i for i, s in enumerate(self.spans) if s.duration_s >= self.crop_s]
        if not usable:
            raise ValueError(f"no pair has {self.crop_s:.2f} s of audio with motion")
        i = int(rng.choice(usable))
        span = self.spans[i]
        return self.crop(i, float(rng.uniform(span.start_s, span.end_s - self.crop_s)))

    def crop(self, pair_index: int, start_s: float) -> PairExample:
        pair = self.pairs[pair_index]
        audio, performance = self._load(pair.pair_id)
        length = self.n_latents * self.hop
        first = min(int(round(start_s * self.sample_rate)), len(audio.samples) - length)
        samples = audio.samples[first:first + length]
        frames = frames_for_latents(self.n_latents, start_s - pair.offset_s, performance,
                                    latent_rate=self.sample_rate / self.hop)
        lo, hi = int(frames.min()), int(frames.max())
        motion = self.config.motion
        inputs = conditioning_inputs(performance, np.arange(lo, hi + 1),
                                     motion.window_past, motion.window_future)
        return PairExample(pair.pair_id, first / self.sample_rate, samples, inputs, frames - lo)

    def _load_pair(self, pair_id: str):
        pair = next(p for p in self.pairs if p.pair_id == pair_id)
        return (load_audio(pair.audio_path, self.sample_rate),
                load_performance(pair.motion_path, self.config.motion))
