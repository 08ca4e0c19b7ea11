"""Re-embedding: new vectors for phrases already in the database, when the embedding recipe
(tasks.analysis.embedding.EMBEDDING_VERSION) changed and the analysis did not.

Beats, sections and phrases stay as they are; each file is decoded again, through the very
path its analysis and every search query take (`decode_features`), and its stored phrase spans
are embedded. A file that cannot be decoded any more keeps its old vectors (left out of
search) and is reported, never stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from storage.records import StaleEmbeddings
from tasks.analysis.audio import AudioError
from tasks.analysis.embedding import phrase_embedding
from tasks.analysis.track import decode_features
from tasks.config import AnalysisConfig
from tasks.dataset.guard import FileTimeout, with_retries, within


@dataclass(frozen=True)
class Reembedded:
    path: str
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # phrase id → (E,) float32,
    # of tasks.analysis.embedding.EMBEDDING_VERSION
    error: str | None = None  # why the file could not be re-embedded


def reembed_track(track: StaleEmbeddings, config: AnalysisConfig,
                  timeout_s: float | None = None) -> Reembedded:
    try:
        _, features, _, _ = with_retries(
            lambda: within(timeout_s, lambda: decode_features(track.path, config)))
    except FileTimeout as error:
        return Reembedded(track.path, error=f"re-embedding {error}")
    except AudioError as error:
        return Reembedded(track.path, error=error.detail)
    except OSError as error:
        return Reembedded(track.path, error=f"{type(error).__name__}: {error}")
    return Reembedded(track.path, {phrase: phrase_embedding(features, start, end)
                                   for phrase, start, end in track.phrases})


def reembed_chunk(items: list[StaleEmbeddings], config: AnalysisConfig,
                  timeout_s: float | None = None) -> list[Reembedded]:
    """Several tracks in one task run, as `analyze_chunk`."""
    return [reembed_track(track, config, timeout_s) for track in items]
