"""Plain records that steps produce and storage persists (storage never imports tasks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PhraseRecord:
    id: int
    index: int
    start_s: float
    end_s: float
    n_bars: int
    section: int
    features: np.ndarray  # (D,) float32
    embedding: np.ndarray  # (E,) float32, unit length
    embedding_version: int  # the recipe that made it (tasks.analysis.embedding.EMBEDDING_VERSION)


@dataclass(frozen=True)
class TrackRecord:
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    config_hash: str
    status: str  # "ok" | "failed"
    error: str | None = None
    reason: str | None = None  # the failure's short tag (missing, truncated, …)
    decoders: str | None = None  # the decoders the analysis had (a failure is retried when they change)
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    tempo_bpm: float | None = None
    beat_confidence: float | None = None  # 0..1 (tasks.analysis.beats.BeatTrack)
    downbeat_confidence: float | None = None
    beats_per_bar: int | None = None  # the meter (3 for 3/4)
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) seconds
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # (n,) 1..meter
    phrases: tuple[PhraseRecord, ...] = ()


# What the database hands back: typed rows with arrays already decoded; bytes stay in storage.

@dataclass(frozen=True)
class Fingerprint:
    """What a rebuild compares to decide whether a file needs analysing again."""

    size: int
    mtime_ns: int
    content_hash: str
    config_hash: str
    status: str = "ok"
    reason: str | None = None  # a failure's tag
    decoders: str | None = None  # the decoders a failure was met with


@dataclass(frozen=True)
class TrackGrid:
    """A track's analysis as clock sync reads it: where it is, whether it could be analysed,
    its beats and where its sections start."""

    path: str
    content_hash: str
    status: str  # "ok" | "failed"
    error: str | None
    config_hash: str
    duration_s: float
    beats_per_bar: int
    beats: np.ndarray  # (n,) seconds
    section_starts: np.ndarray  # (s,) seconds: where each section's first phrase starts


@dataclass(frozen=True)
class AudioTrack:
    path: str
    content_hash: str
    duration_s: float


@dataclass(frozen=True)
class StoredPhrase:
    id: int
    track_path: str
    track_hash: str  # the track's content hash: the key of its tokens
    start_s: float
    end_s: float
    tempo_bpm: float | None  # the track's
    features: np.ndarray  # (D,) float32 summary (see tasks.analysis.features.summary_value)
    embedding: np.ndarray  # (E,) float32, unit length
    embedding_version: int


@dataclass(frozen=True)
class StaleEmbeddings:
    """A track whose phrases were embedded by another recipe: what re-embedding needs."""

    path: str
    phrases: tuple[tuple[int, float, float], ...]  # (phrase id, start_s, end_s)
