"""Nearest phrases to a query: an audio span, or a phrase already in the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storage.db import PhraseDatabase
from storage.vector_index import PhraseIndex
from tasks.audio import load_audio
from tasks.config import AnalysisConfig
from tasks.embedding import phrase_embedding
from tasks.features import frame_features


def embed_audio(path: Path | str, start_s: float | None = None, end_s: float | None = None,
                config: AnalysisConfig | None = None) -> np.ndarray:
    """Embedding of [start_s, end_s) of an audio file (the whole file by default)."""
    config = config or AnalysisConfig()
    audio = load_audio(path, config.feature_sample_rate)
    start = 0.0 if start_s is None else max(0.0, float(start_s))
    end = audio.duration_s if end_s is None else min(audio.duration_s, float(end_s))
    if end - start < 0.5:
        raise ValueError(f"{path}: the span {start:.2f}–{end:.2f} s is too short to search with")
    features = frame_features(audio.samples, audio.sample_rate)
    return phrase_embedding(features, start, end)


def search(database: PhraseDatabase, index: PhraseIndex, query: np.ndarray, k: int = 10,
           exclude_id: int | None = None) -> list[dict]:
    """[{"phrase_id","track_path","start_s","end_s","score"}], best first."""
    extra = 1 if exclude_id is not None else 0
    scores, ids = index.search(query[None, :], k + extra)
    hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and i != exclude_id][:k]
    rows = database.phrases_with_tracks([i for i, _ in hits])
    return [{"phrase_id": i, "track_path": rows[i][1], "start_s": rows[i][0].start_s,
             "end_s": rows[i][0].end_s, "score": round(score, 6)} for i, score in hits if i in rows]


def phrase_vector(database: PhraseDatabase, phrase_id: int) -> np.ndarray:
    rows = database.phrases_with_tracks([phrase_id])
    if phrase_id not in rows:
        raise KeyError(f"no phrase with id {phrase_id}")
    return np.frombuffer(rows[phrase_id][0].embedding, dtype=np.float32)
