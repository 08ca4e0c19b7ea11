"""A generated library danced to by several dancers, with each track's phrases as the phrase
database holds them (embedded at the true phrase spans): data to train and measure the
motion → phrase mapper on without running the whole analysis.

Every track plays its own random patterns and draws its sections' arrangements from the same
set, so the same kind of section recurs across tracks, as in a real library; tempi may all
lie close together (one genre: the tempo alone cannot tell the tracks apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.records import StoredPhrase
from synthetic.performances import ENERGY, dance, write_performance
from synthetic.tracks import SectionSpec, TrackSpec, random_patterns, render
from tasks.analysis.audio import resample
from tasks.analysis.embedding import EMBEDDING_VERSION, phrase_embedding
from tasks.analysis.features import frame_features, span_summary
from tasks.config import AnalysisConfig
from tasks.motion.recording import Performance, load_performance

CLOCK_START_S = 100.0  # the phones' clock reads 100 s when a track starts


@dataclass(frozen=True)
class DancedTrack:
    track_id: str
    tempo_bpm: float
    phrases: list[StoredPhrase]
    recordings: list[tuple[str, Performance]]  # (name, motion); audio time = t − CLOCK_START_S

    @property
    def offset_s(self) -> float:
        return -CLOCK_START_S


def danced_library(folder: Path | str, n_tracks: int, dancers: int, seed: int,
                   bpm_range: tuple[float, float] = (120.0, 128.0), sections: int = 6,
                   bars: int = 4, first_phrase_id: int = 1) -> list[DancedTrack]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rate = AnalysisConfig().feature_sample_rate
    names = sorted(ENERGY)
    tracks, next_id = [], first_phrase_id
    for i in range(n_tracks):
        plan = rng.choice(names, size=min(sections, len(names)), replace=False)
        spec = TrackSpec(bpm=float(rng.uniform(*bpm_range)),
                         sections=tuple(SectionSpec(str(a), bars) for a in plan),
                         seed=int(rng.integers(2 ** 31)), patterns=random_patterns(rng))
        track = render(spec)
        features = frame_features(resample(track.samples, track.sample_rate, rate), rate)
        track_id = f"danced-{seed}-{i}"
        phrases = []
        for start, end in zip(track.section_starts, track.section_ends):
            phrases.append(StoredPhrase(next_id, f"{track_id}.wav", track_id, float(start),
                                        float(end), spec.bpm,
                                        span_summary(features, start, end),
                                        phrase_embedding(features, start, end),
                                        EMBEDDING_VERSION))
            next_id += 1
        recordings = []
        for d in range(dancers):
            path = write_performance(dance(track, rng, CLOCK_START_S),
                                     folder / f"{track_id}-dancer{d}.parquet")
            recordings.append((path.stem, load_performance(path)))
        tracks.append(DancedTrack(track_id, spec.bpm, phrases, recordings))
    return tracks
