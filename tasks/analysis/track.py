"""One track, end to end: decode → features → beats and downbeats → sections and phrases."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tasks.analysis.backends import BeatBackend, backend
from tasks.analysis.beats import (BeatActivation, BeatTrack, Seed, the_better_tracking,
                                  track_beats, whole_range_could_mend)
from tasks.analysis.features import FeatureBuilder, FrameFeatures, rises, span_summary
from tasks.analysis.stream import AudioStream, SourceInfo
from tasks.analysis.phrases import Phrase, Section, segment
from tasks.config import AnalysisConfig, BeatsConfig


@dataclass(frozen=True)
class TrackAnalysis:
    path: str
    duration_s: float
    sample_rate: int  # of the file
    channels: int  # of the file
    beat_track: BeatTrack
    sections: list[Section]
    phrases: list[Phrase]
    features: FrameFeatures
    phrase_summaries: np.ndarray  # (n_phrases, D): what the phrase embedding starts from
    timings_s: dict[str, float] = field(default_factory=dict)
    waveform: np.ndarray | None = field(default=None, repr=False)  # (N,) at feature rate

    @property
    def tempo_bpm(self) -> float:
        return self.beat_track.tempo_bpm

    def to_json(self) -> dict:
        """Exactly the keys of the `echelon analyze --json` contract."""
        return {
            "path": self.path,
            "duration_s": round(self.duration_s, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "tempo_bpm": round(self.tempo_bpm, 3),
            "beat_confidence": round(self.beat_track.beat_confidence, 3),
            "downbeat_confidence": round(self.beat_track.downbeat_confidence, 3),
            "beats_per_bar": self.beat_track.beats_per_bar,
            "beats": [round(float(t), 4) for t in self.beat_track.beats],
            "downbeats": [round(float(t), 4) for t in self.beat_track.downbeats],
            "sections": [{"start_s": round(s.start_s, 4), "end_s": round(s.end_s, 4),
                          "strength": round(s.strength, 3)} for s in self.sections],
            "phrases": [{"start_s": round(p.start_s, 4), "end_s": round(p.end_s, 4),
                         "n_bars": p.n_bars, "section": p.section} for p in self.phrases],
        }


def decode_features(path: Path | str, config: AnalysisConfig, tracker: BeatBackend | None = None,
                    keep_waveform: bool = False) -> tuple[SourceInfo, FrameFeatures,
                                                          BeatActivation | None, np.ndarray | None]:
    """One pass over the file a block at a time (memory does not grow with its length):
    frame features at the feature rate, and `tracker`'s activation from the analysis rate.
    Stored phrases and search queries both come through here, so a query's embedding is
    made exactly as the stored ones were."""
    stream = AudioStream(path, config.sample_rate)
    builder = FeatureBuilder(config.feature_sample_rate)
    beats = tracker.accumulator() if tracker is not None else None
    waveform = []
    for span in stream:
        low = span.at_rate(config.feature_sample_rate)
        builder.add(low)
        if beats is not None:
            beats.add(span, low)
        if keep_waveform:
            waveform.append(low.chunk[low.start - low.origin: low.stop - low.origin])
    return (stream.info, builder.result(), beats.result() if beats is not None else None,
            np.concatenate(waveform) if keep_waveform else None)


def analyze_track(path: Path | str, config: AnalysisConfig | None = None,
                  keep_waveform: bool = False) -> TrackAnalysis:
    """Analyse one audio file; raises `tasks.analysis.audio.AudioError` for files that cannot be used."""
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    beats_cfg = config.beats
    tracker = backend(beats_cfg.backend)
    info, features, activation, waveform = decode_features(path, config, tracker, keep_waveform)
    duration_s = info.duration_s(config.sample_rate)
    lap("decode_features_activations")
    beat_track = find_beats(activation, features, tracker, beats_cfg)
    lap("beats")

    sec = config.sections
    sections, phrases = segment(features, beat_track.downbeats, duration_s,
                                phrase_bars=config.phrases.bars, min_section_bars=sec.min_bars,
                                novelty_window=sec.novelty_window,
                                novelty_threshold=sec.novelty_threshold)
    summaries = np.stack([span_summary(features, p.start_s, p.end_s) for p in phrases]) \
        if phrases else np.zeros((0, 0), np.float32)
    lap("phrases")
    return TrackAnalysis(str(path), duration_s, info.sample_rate, info.channels, beat_track,
                         sections, phrases, features, summaries, timings, waveform)


def find_beats(activation: BeatActivation, features: FrameFeatures, tracker: BeatBackend,
               beats_cfg: BeatsConfig) -> BeatTrack:
    """The beat grid from the tracker's tracking within `tracker_bpm`; where that may have
    slipped on a fast song, from its tracking over the whole tempo range instead when that is
    the better (`the_better_tracking`)."""
    cues, fps = bar_cues(features), features.sample_rate / features.hop_length
    kick, body = low_onsets(features), body_onsets(features)
    meters = beats_cfg.beats_per_bar

    def grid(seed: Seed) -> BeatTrack:
        # the tracker's meter when it has a bar model; else 4/4 if allowed (most dance music)
        meter = seed.beats_per_bar if seed.beats_per_bar in meters else (4 if 4 in meters
                                                                         else meters[-1])
        return track_beats(activation, seed.times, cues, fps, meter, beats_cfg.tempo_tolerance,
                           kick=kick, body=body,
                           bpm_range=(beats_cfg.min_bpm, beats_cfg.max_bpm),
                           bar_halving_min_bpm=beats_cfg.tracker_bpm[0])

    tracker_max = beats_cfg.tracker_bpm[1]
    narrow = grid(tracker.seed_beats(activation, *beats_cfg.tracker_bpm, meters))
    if not whole_range_could_mend(narrow, tracker_max, beats_cfg.max_bpm):
        return narrow
    whole = tracker.seed_beats(activation, beats_cfg.min_bpm, beats_cfg.max_bpm,
                               (narrow.beats_per_bar,))
    return the_better_tracking(narrow, grid(whole), tracker_max, cues, fps)


def low_onsets(features: FrameFeatures) -> np.ndarray:
    """(T,) onset strength of the lowest mel bands (below ~300 Hz): where the kick drum is."""
    return rises(features.mel_db[:6]).sum(axis=0)


BODY_MEL_BANDS = 36  # of 64 mel bands at 22.05 kHz: up to ~2.5 kHz
BODY_RANGE_DB = 20.0  # how far under its own loudest moment a band still counts


def body_onsets(features: FrameFeatures) -> np.ndarray:
    """(T,) onset strength below ~2.5 kHz: kick, snare body, bass; not the hi-hats. Levels
    more than BODY_RANGE_DB under each band's loudest are floored first: a hat's faint spill
    into a quiet low band would otherwise jump as many dB as a kick."""
    body = features.mel_db[:BODY_MEL_BANDS]
    return rises(np.maximum(body, body.max(axis=1, keepdims=True) - BODY_RANGE_DB)).sum(axis=0)


def bar_cues(features: FrameFeatures) -> list[np.ndarray]:
    """What changes on bar lines, one vote each: harmony, timbre, and the bass register."""
    mfcc = features.mfcc
    timbre = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-6)
    bass = features.mel_db[:12] / 10.0  # the lowest mel bands: kick and bass line
    return [features.chroma, timbre, bass]
