"""Nearest phrases to a query: an audio span, or a phrase already in the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storage.db import PhraseDatabase
from storage.vector_index import PhraseIndex
from tasks.analysis.embedding import phrase_embedding
from tasks.analysis.track import decode_features
from tasks.config import AnalysisConfig


def embed_audio(path: Path | str, start_s: float | None = None, end_s: float | None = None,
                config: AnalysisConfig | None = None) -> np.ndarray:
    """Embedding of [start_s, end_s) of an audio file (the whole file by default)."""
    config = config or AnalysisConfig()
    info, features, _, _ = decode_features(path, config)  # the stored phrases' own path
    duration = info.duration_s(config.sample_rate)
    start = 0.0 if start_s is None else max(0.0, float(start_s))
    end = duration if end_s is None else min(duration, float(end_s))
    if end - start < 0.5:
        raise ValueError(f"{path}: the span {start:.2f}–{end:.2f} s is too short to search with")
    return phrase_embedding(features, start, end)


def search(database: PhraseDatabase, index: PhraseIndex, query: np.ndarray, k: int = 10,
           exclude_id: int | None = None) -> list[dict]:
    """[{"phrase_id","track_path","start_s","end_s","score"}], best first."""
    extra = 1 if exclude_id is not None else 0
    scores, ids = index.search(query[None, :], k + extra)
    hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and i != exclude_id][:k]
    rows = {p.id: p for p in database.phrases([i for i, _ in hits])}
    return [{"phrase_id": i, "track_path": rows[i].track_path, "start_s": rows[i].start_s,
             "end_s": rows[i].end_s, "score": round(score, 6)} for i, score in hits if i in rows]


def phrase_vector(database: PhraseDatabase, phrase_id: int) -> np.ndarray:
    found = database.phrases([phrase_id])
    if not found:
        raise KeyError(f"no phrase with id {phrase_id}")
    return found[0].embedding
