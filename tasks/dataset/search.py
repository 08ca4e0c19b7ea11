"""Nearest phrases to a query: an audio span, or a phrase already in the database.

A query and the phrases it is compared with are embeddings of one version: the same decode
and the same recipe (tasks.analysis.embedding). Two versions are never compared; the search
says so and what to run instead of answering with meaningless scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.db import PhraseDatabase
from storage.vector_index import PhraseIndex
from tasks.analysis.embedding import EMBEDDING_VERSION, phrase_embedding
from tasks.analysis.track import decode_features
from tasks.config import AnalysisConfig


class EmbeddingVersionMismatch(ValueError):
    """A query and an index (or a library) of two embedding versions."""


@dataclass(frozen=True)
class Query:
    vector: np.ndarray  # (E,) float32, unit length
    embedding_version: int


def embed_audio(path: Path | str, start_s: float | None = None, end_s: float | None = None,
                config: AnalysisConfig | None = None) -> Query:
    """Embedding of [start_s, end_s) of an audio file (the whole file by default)."""
    config = config or AnalysisConfig()
    info, features, _, _ = decode_features(path, config)  # the stored phrases' own path
    duration = info.duration_s(config.sample_rate)
    start = 0.0 if start_s is None else max(0.0, float(start_s))
    end = duration if end_s is None else min(duration, float(end_s))
    if end - start < 0.5:
        raise ValueError(f"{path}: the span {start:.2f}–{end:.2f} s is too short to search with")
    return Query(phrase_embedding(features, start, end), EMBEDDING_VERSION)


def search(database: PhraseDatabase, index: PhraseIndex, query: Query, k: int = 10,
           exclude_id: int | None = None) -> list[dict]:
    """[{"phrase_id","track_path","start_s","end_s","score"}], best first."""
    if index.embedding_version != query.embedding_version:
        raise EmbeddingVersionMismatch(
            f"the query is an embedding of version {query.embedding_version} and the index holds "
            f"version {index.embedding_version}: vectors of two versions cannot be compared; "
            f"run `echelon rebuild` to re-embed the library with version {EMBEDDING_VERSION} "
            "(its phrases are not re-analysed)")
    extra = 1 if exclude_id is not None else 0
    scores, ids = index.search(query.vector[None, :], k + extra)
    hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and i != exclude_id][:k]
    rows = {p.id: p for p in database.phrases([i for i, _ in hits])}
    return [{"phrase_id": i, "track_path": rows[i].track_path, "start_s": rows[i].start_s,
             "end_s": rows[i].end_s, "score": round(score, 6)} for i, score in hits if i in rows]


def phrase_vector(database: PhraseDatabase, phrase_id: int) -> Query:
    found = database.phrases([phrase_id])
    if not found:
        raise KeyError(f"no phrase with id {phrase_id}")
    return Query(found[0].embedding, found[0].embedding_version)


def left_out_of_search(database: PhraseDatabase) -> int:
    """How many phrases a search cannot see because they still carry vectors of another
    version (a re-embedding that has not run, or failed for their file). A library with no
    vector of this release's version at all is refused, with what to run."""
    versions = database.embedding_versions()
    if versions and EMBEDDING_VERSION not in versions:
        held = ", ".join(f"version {v} ({n} phrases)" for v, n in sorted(versions.items()))
        raise EmbeddingVersionMismatch(
            f"the phrase database holds embeddings of {held}; this echelon embeds version "
            f"{EMBEDDING_VERSION}: run `echelon rebuild --library DIR` to re-embed them "
            "(phrases are not re-analysed)")
    return sum(n for v, n in versions.items() if v != EMBEDDING_VERSION)
