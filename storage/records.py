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
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    tempo_bpm: float | None = None
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) seconds
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # (n,) 1..4
    phrases: tuple[PhraseRecord, ...] = ()
