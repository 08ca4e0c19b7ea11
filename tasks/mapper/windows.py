"""What the mapper learns from: each phrase of a pair's track that the recording covers, as
the conditioning encoder's view of the motion over the phrase's span.

The encoder gives one 256-d vector per motion frame; a phrase (8 bars: 12–20 s) is squeezed
into `window_steps` equal steps by averaging, so phrases of any tempo give one shape. The log
of the motion's speed is added to each step twice: as it is, and relative to the recording's
median (a calm dancer's drop and a wild dancer's break can move equally fast): how much the
dancers move is the plainest thing motion and music share, and among the encoder's 256
features two of ours would be lost (the tower takes the encoder's through a few main
directions and the speeds as they are).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from echelon_models.conditioning import EchelonEncoder
from storage.records import StoredPhrase
from tasks.analysis.features import segment_means
from tasks.config import MapperConfig, MotionConfig
from tasks.motion.features import frame_speeds, motion_energy, motion_tempo
from tasks.motion.recording import Performance
from tasks.motion.windows import conditioning_inputs


ENCODER_STRIDE = 3


@dataclass(frozen=True)
class PhraseWindow:
    pair_id: str  # the recording
    track_id: str
    phrase_id: int
    steps: np.ndarray  # (S, F) float32: encoder features and log speed in S equal steps
    tempo_bpm: float  # the motion's over the window (NaN: none found)
    energy: float  # the motion's mean speed


def log_speed(performance: Performance, first: int = 0, last: int | None = None) -> np.ndarray:
    """(N,) log of the LatentState's speed (units per second) at each frame of [first, last);
    the first frame, with nothing before it, counts as still."""
    speeds = frame_speeds(performance, first, last)  # (N − 1,)
    return np.log(1e-3 + np.concatenate([[0.0], speeds]))


def motion_steps(performance: Performance, first: int, last: int, encoder: EchelonEncoder,
                 motion: MotionConfig, n_steps: int, typical_log_speed: float) -> np.ndarray:
    """(n_steps, encoder output + 2) for motion frames [first, last). The encoder reads every
    ENCODER_STRIDE-th frame: its window spans 1.5 s, and the steps average hundreds of frames."""
    centers = np.arange(first, last, ENCODER_STRIDE)
    inputs = conditioning_inputs(performance, centers, motion.window_past, motion.window_future)
    with torch.no_grad():
        features = encoder(torch.from_numpy(inputs.windows)[None],
                           torch.from_numpy(inputs.present)[None],
                           torch.from_numpy(inputs.transitions)[None])[0].numpy()  # (M, 256)
    speed = log_speed(performance, first, last)  # (N,)
    encoded = segment_means(features.T, _bounds(len(centers), n_steps))  # (256, S)
    speeds = segment_means(np.stack([speed, speed - typical_log_speed]),
                           _bounds(len(speed), n_steps))  # (2, S)
    return np.concatenate([encoded, speeds]).T  # (S, F)


def _bounds(length: int, n_steps: int) -> np.ndarray:
    return np.round(np.linspace(0, length, n_steps + 1)).astype(np.int64)


def recording_span(performance: Performance, start_s: float, end_s: float,
                   min_coverage: float) -> tuple[int, int] | None:
    """Motion frames [first, last) of recording times [start_s, end_s), or None when the
    recording covers less than `min_coverage` of it or no phone was recording."""
    rate = performance.frame_rate
    first = max(0, int(math.ceil((start_s - performance.start_s) * rate)))
    last = min(performance.n_frames, int(math.floor((end_s - performance.start_s) * rate)) + 1)
    wanted = (end_s - start_s) * rate
    if last - first < max(2, min_coverage * wanted) or not performance.present[first:last].any():
        return None
    return first, last


def phrase_windows(pair_id: str, track_id: str, offset_s: float, performance: Performance,
                   phrases: list[StoredPhrase], encoder: EchelonEncoder, motion: MotionConfig,
                   config: MapperConfig) -> list[PhraseWindow]:
    """The windows of every phrase of the track the recording covers; audio time = recording
    time + offset_s."""
    out, typical = [], typical_log_speed(performance)
    for phrase in phrases:
        span = recording_span(performance, phrase.start_s - offset_s, phrase.end_s - offset_s,
                              config.min_coverage)
        if span is None:
            continue
        first, last = span
        out.append(PhraseWindow(
            pair_id, track_id, phrase.id,
            motion_steps(performance, first, last, encoder, motion, config.window_steps,
                         typical),
            motion_tempo(performance, first, last), motion_energy(performance, first, last)))
    return out


def typical_log_speed(performance: Performance) -> float:
    """The median log speed of the frames a phone recorded."""
    speed = log_speed(performance)[performance.present.any(axis=1)]
    return float(np.median(speed)) if len(speed) else 0.0


@dataclass(frozen=True)
class MapperSplit:
    train: list[PhraseWindow]
    unseen_tracks: list[PhraseWindow]  # tracks never trained on
    unseen_recordings: list[PhraseWindow]  # trained-on tracks, danced in recordings not seen

    def held_out(self) -> dict[str, list[PhraseWindow]]:
        return {"unseen tracks": self.unseen_tracks, "unseen recordings": self.unseen_recordings}


def split_windows(windows: list[PhraseWindow], share: float) -> MapperSplit:
    """Held out by track (their content hashes decide), then among the other tracks' recordings
    by name, so the split stays put when pairs are added. A side with fewer than two members
    holds nothing out."""
    tracks = _held(sorted({w.track_id for w in windows}), share)
    rest = [w for w in windows if w.track_id not in tracks]
    recordings = _held(sorted({w.pair_id for w in rest}), share)
    return MapperSplit([w for w in rest if w.pair_id not in recordings],
                       [w for w in windows if w.track_id in tracks],
                       [w for w in rest if w.pair_id in recordings])


def _held(keys: list[str], share: float) -> set[str]:
    if len(keys) < 2:
        return set()
    ordered = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    return set(ordered[:min(len(keys) - 1, max(1, round(share * len(keys))))])
