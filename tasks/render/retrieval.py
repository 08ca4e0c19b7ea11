"""Retrieval-guided rendering: the library phrase that best fits a span of motion, and its
latents as the partly-noised start of a chunk (SDEdit).

With a trained mapper (`echelon train-mapper`; tasks.mapper.ranking.PhraseMapper) the motion
is mapped into the phrase embedding's space and the index's nearest phrases are re-ranked by
tempo. Without one, a hand-made rule matches tempo and energy: tempo compares directly (BPM);
energy does not (the motion's speed and the audio's level have different units), so each side
is ranked within its own set and the ranks are compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from storage.db import PhraseDatabase
from storage.records import StoredPhrase
from storage.token_store import TokenSequence
from tasks.analysis.features import summary_value
from tasks.config import RetrievalConfig


@dataclass(frozen=True)
class PhraseCandidate:
    phrase_id: int
    track_path: str
    track_id: str  # content hash: the key of the track's tokens
    start_s: float
    end_s: float
    tempo_bpm: float
    energy_db: float  # mean frame level of the phrase
    energy_rank: float  # 0 (quietest phrase of the catalog) … 1 (loudest)


class PhraseCatalog:
    """The phrases that have tokens from the renderer's VQ-VAE, with their latents."""

    def __init__(self, candidates: list[PhraseCandidate], sequences: dict[str, TokenSequence],
                 codebook: np.ndarray, scale: float, latent_rate: float):
        if not candidates:
            raise ValueError("no phrase of the database has tokens from this VQ-VAE: run "
                             "`echelon rebuild` and `echelon tokenize` first")
        self.candidates, self.sequences = candidates, sequences
        self.codebook, self.scale, self.latent_rate = codebook, scale, latent_rate
        self.mapper = None  # a trained motion → phrase mapper (tasks.mapper.ranking.PhraseMapper)
        self._tempo = np.array([c.tempo_bpm for c in candidates])
        self._rank = np.array([c.energy_rank for c in candidates])

    @classmethod
    def from_database(cls, database: PhraseDatabase, sequences: list[TokenSequence],
                      codebook: np.ndarray, scale: float, latent_rate: float) -> "PhraseCatalog":
        by_track = {s.track_id: s for s in sequences}
        rows = [p for p in database.phrases() if p.track_hash in by_track]
        return cls(candidates_of(rows), by_track, codebook, scale, latent_rate)

    def __getstate__(self) -> dict:
        # render workers get the catalog for its latents; the phrases were chosen before
        return {**self.__dict__, "mapper": None}

    @property
    def chooser(self) -> str:
        """What picks the phrases: "" for the hand-made rule, else the mapper's checkpoint hash."""
        return self.mapper.checkpoint_sha256 if self.mapper is not None else ""

    def choose(self, tempo_bpm: float, energy_rank: float,
               config: RetrievalConfig) -> PhraseCandidate:
        """The phrase nearest in tempo (in units of the tolerance, on a log scale) and energy
        rank; ties go to the lowest phrase id. An unknown tempo (NaN) matches on energy only."""
        return self.candidates[int(np.argmin(self.costs(tempo_bpm, energy_rank, config)))]

    def costs(self, tempo_bpm: float, energy_rank: float, config: RetrievalConfig) -> np.ndarray:
        """(P,) the hand-made rule's cost of every candidate."""
        cost = config.energy_weight * np.abs(self._rank - energy_rank)
        if math.isfinite(tempo_bpm):
            ratio = np.abs(np.log(self._tempo / tempo_bpm))
            cost = cost + ratio / math.log1p(config.tempo_tolerance)
        return cost

    def latents(self, candidate: PhraseCandidate, length: int) -> np.ndarray:
        """(C, length) scaled latents of the phrase, repeated when it is shorter."""
        codes = self.sequences[candidate.track_id].codes
        first = int(round(candidate.start_s * self.latent_rate))
        last = min(len(codes), max(first + 1, int(round(candidate.end_s * self.latent_rate))))
        span = codes[first:last]
        tiled = np.resize(span, length)  # repeats the phrase from its start: bars stay whole
        return (self.codebook[tiled.astype(np.int64)].T * self.scale).astype(np.float32)


def candidates_of(phrases: list[StoredPhrase]) -> list[PhraseCandidate]:
    """The phrases a rule can rank: with a tempo and a length; loudness ranked among them."""
    rows = [p for p in phrases if p.tempo_bpm is not None and p.end_s > p.start_s]
    energies = np.array([summary_value(p.features, "rms_db") for p in rows])
    return [PhraseCandidate(p.id, p.track_path, p.track_hash, p.start_s, p.end_s,
                            float(p.tempo_bpm), float(e), float(k))
            for p, e, k in zip(rows, energies, ranks_01(energies))]


def ranks_01(values) -> np.ndarray:
    """0 … 1 by order (ties by position); a single value ranks 0.5. The catalog ranks its
    phrases' loudness with it, the renderer its chunks' motion energy."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.full(len(values), 0.5)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values)) / (len(values) - 1)
    return ranks

