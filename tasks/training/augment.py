"""Seeded augmentations for both trainers, replayable sample by sample.

Every draw of a sample comes from its own generator, seeded by (seed, epoch, index): the epoch
is the training step (each step draws its data afresh) and the index the sample's place among
the step's samples. So a batch is the same whichever number of threads makes it, a resumed run
draws what the uninterrupted one drew, and the parameters logged with each sample (`asdict` of
the records below) rebuild it bit for bit (`replay_audio`, `replay_motion`).

Audio (VQ-VAE): the random crop, loudness normalisation of the crop, a random gain and
polarity — changes that keep the reconstruction target, as EnCodec and DAC train. Motion
(diffusion): a small time-warp whose latents are warped to match, sensor noise, one phone
dropped. No rotation: the LatentState's 25 values are a learned state of the phone, not axes in
space, so there is nothing a rotation could act on. The diffusion model's latents come from
stored tokens, so audio-side changes other than the warp would need the tokenizer again.

The maintained libraries (audiomentations, torch-audiomentations) draw from the global
`random`/`numpy`/`torch` generators, which breaks the per-sample seeding above; each transform
here is a line or two.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from echelon_models.diffusion import MotionBatch
from tasks.config import AudioAugmentConfig, MotionAugmentConfig
from tasks.motion.windows import motion_batch, warped_motion_for_latents
from tasks.training.audio_crops import AudioCrops
from tasks.training.latent_pairs import LatentCrops


AUGMENT_STREAM = 1  # common.step_generators seeds by [seed, step, part]: kept apart from it


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index, AUGMENT_STREAM])


def _each(fn, indices: range, workers: int) -> list:
    if workers <= 1:
        return [fn(i) for i in indices]
    with ThreadPoolExecutor(workers) as pool:  # soundfile and numpy release the GIL
        return list(pool.map(fn, indices))


# --- audio -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AudioAugment:
    source: int  # the crop's track: index into the trainer's list of files
    start_s: float
    level_db: float  # the loudness normalisation's gain (from the crop, not drawn)
    gain_db: float
    polarity: int  # +1 or −1


def apply_audio(crop: np.ndarray, params: AudioAugment) -> np.ndarray:
    factor = params.polarity * 10.0 ** ((params.level_db + params.gain_db) / 20.0)
    return (crop * np.float32(factor)).astype(np.float32)


def level_gain_db(crop: np.ndarray, config: AudioAugmentConfig) -> float:
    """The gain that brings the crop's RMS level to `config.loudness_db` (at most
    `max_boost_db` up: silence stays silence)."""
    if config.loudness_db is None:
        return 0.0
    rms_db = 10.0 * np.log10(float(np.mean(np.square(crop, dtype=np.float64))) + 1e-12)
    return float(min(config.loudness_db - rms_db, config.max_boost_db))


def audio_sample(crops: AudioCrops, config: AudioAugmentConfig, seed: int, epoch: int,
                 index: int) -> tuple[np.ndarray, AudioAugment]:
    rng = sample_rng(seed, epoch, index)
    source, start_s = crops.draw(rng)
    crop = crops.read(source, start_s)
    gain = float(rng.uniform(-config.gain_db, config.gain_db))
    polarity = -1 if rng.random() < config.polarity else 1
    params = AudioAugment(source, start_s, level_gain_db(crop, config), gain, polarity)
    return apply_audio(crop, params), params


def replay_audio(crops: AudioCrops, params: AudioAugment) -> np.ndarray:
    return apply_audio(crops.read(params.source, params.start_s), params)


def audio_batch(crops: AudioCrops, config: AudioAugmentConfig, seed: int, epoch: int,
                size: int, first: int = 0) -> tuple[np.ndarray, list[AudioAugment]]:
    """(size, crop_samples) float32 and each row's parameters: samples first … first+size−1."""
    made = _each(lambda i: audio_sample(crops, config, seed, epoch, i),
                 range(first, first + size), config.workers)
    return np.stack([m[0] for m in made]), [m[1] for m in made]


# --- motion ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MotionAugment:
    pair: int  # index into the trainer's pairs
    start: int  # the crop's first latent frame in the track
    warp: float  # latent j of the crop is the track's latent start + round(j·warp)
    noise: float  # sensor noise std
    noise_seed: int
    dropped: int  # the phone marked absent; −1: none


def motion_sample(crops: LatentCrops, config: MotionAugmentConfig, seed: int, epoch: int,
                  index: int):
    rng = sample_rng(seed, epoch, index)
    length = crops.crop_latents
    pair = int(rng.choice(crops.usable))
    first, last = crops.spans[pair]
    warp = 1.0 + float(rng.uniform(-config.warp, config.warp))
    warp = min(warp, (last - first - 1) / max(1, length - 1))  # the stretched crop must fit
    need = int(round((length - 1) * warp)) + 1
    start = int(rng.integers(first, last - need + 1))
    dropped = -1
    if rng.random() < config.drop_phone:
        devices = crops.pairs[pair].performance.devices
        if len(devices) > 1:  # with one phone left the encoder still has motion
            dropped = int(devices[rng.integers(len(devices))])
    params = MotionAugment(pair, start, warp, config.noise, int(rng.integers(2 ** 63)), dropped)
    return replay_motion(crops, params), params


def replay_motion(crops: LatentCrops, params: MotionAugment):
    """(latents (C, L), conditioning inputs, frame of each latent) of one augmented crop."""
    pair = crops.pairs[params.pair]
    length, motion = crops.crop_latents, crops.motion
    index = params.start + np.floor(np.arange(length) * params.warp + 0.5).astype(np.int64)
    latents = np.asarray(pair.latents[:, index], dtype=np.float32)  # (C, L)
    noise = None
    if params.noise > 0:
        shape = (crops.n_motion + motion.window_past + motion.window_future,
                 *pair.performance.frames.shape[1:])
        noise = (params.noise * np.random.default_rng(params.noise_seed).standard_normal(
            shape)).astype(np.float32)
    inputs, frame_of_latent = warped_motion_for_latents(
        pair.performance, params.start / pair.latent_rate - pair.offset_s, length, motion,
        pair.latent_rate, crops.n_motion, params.warp, noise,
        None if params.dropped < 0 else params.dropped)
    return latents, inputs, frame_of_latent


def motion_crop_batch(crops: LatentCrops, config: MotionAugmentConfig, seed: int, epoch: int,
                      size: int, first: int = 0,
                      ) -> tuple[torch.Tensor, MotionBatch, list[MotionAugment]]:
    made = _each(lambda i: motion_sample(crops, config, seed, epoch, i),
                 range(first, first + size), config.workers)
    latents = torch.from_numpy(np.stack([m[0][0] for m in made]))  # (B, C, L)
    return latents, motion_batch([(m[0][1], m[0][2]) for m in made]), [m[1] for m in made]


# --- the log ---------------------------------------------------------------------------------

class AugmentLog:
    """One JSON line per step beside the checkpoint: {"step", "samples": [parameters]}. A
    resumed run appends from its checkpoint's step; lines of steps a killed run made past it
    are dropped first, so each step appears once."""

    def __init__(self, path: Path | str, resume_step: int):
        self.path = Path(path)
        if self.path.is_file():
            kept = [line for line in self.path.read_text().splitlines()
                    if _step_of(line) is not None and _step_of(line) <= resume_step]
            self.path.write_text("".join(f"{line}\n" for line in kept))

    def write(self, step: int, samples: list) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, "samples": [asdict(s) for s in samples]})
                         + "\n")


def read_log(path: Path | str) -> dict[int, list[dict]]:
    """step → the parameters of its samples, in the order they were drawn."""
    out: dict[int, list[dict]] = {}
    for line in Path(path).read_text().splitlines():
        entry = json.loads(line)
        out.setdefault(int(entry["step"]), []).extend(entry["samples"])
    return out


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line a kill cut short
