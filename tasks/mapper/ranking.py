"""How a window of motion ranks the library's phrases: the mapper's similarity, re-ranked by
tempo the way renders use it, and the hand-made rule it replaces (the anchor)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from echelon_models.conditioning import EchelonEncoder
from echelon_models.mapper import MotionTower
from storage.records import StoredPhrase
from storage.vector_index import PhraseIndex
from tasks.config import MapperConfig, MotionConfig, RetrievalConfig
from tasks.mapper.windows import motion_steps
from tasks.motion.recording import Performance
from tasks.render.retrieval import PhraseCandidate, PhraseCatalog, candidates_of, ranks_01


@dataclass(frozen=True)
class PhraseLibrary:
    """The phrases a window is ranked against: their frozen vectors, tempi, and the rule's
    view of them (the same phrases, in the same order)."""

    ids: np.ndarray  # (P,) int64
    vectors: np.ndarray  # (P, E) float32, unit
    tempo: np.ndarray  # (P,) BPM
    catalog: PhraseCatalog

    @classmethod
    def of(cls, phrases: list[StoredPhrase]) -> "PhraseLibrary":
        candidates = candidates_of(phrases)
        if not candidates:
            raise ValueError("no phrase of the database has a tempo and a length to rank: "
                             "run `echelon rebuild`")
        by_id = {p.id: p for p in phrases}
        ids = np.array([c.phrase_id for c in candidates], np.int64)
        vectors = np.stack([by_id[int(i)].embedding for i in ids]).astype(np.float32)
        return cls(ids, vectors, np.array([c.tempo_bpm for c in candidates]),
                   PhraseCatalog(candidates, {}, np.zeros((1, 1), np.float32), 1.0, 1.0))

    def columns(self, phrase_ids) -> np.ndarray:
        """(Q,) column of each phrase id; −1 for a phrase not in the library."""
        where = {int(i): k for k, i in enumerate(self.ids)}
        return np.array([where.get(int(i), -1) for i in phrase_ids], np.int64)


def embed_windows(tower: MotionTower, steps: np.ndarray) -> np.ndarray:
    """(Q, S, F) → (Q, E) unit vectors in the phrase embedding's space."""
    tower.eval()
    with torch.no_grad():
        return tower(torch.from_numpy(np.ascontiguousarray(steps, np.float32))).numpy()


OCTAVE_COST = 1.0  # in tolerances: dancing at half or double the music's tempo is common


def tempo_cost(motion_bpm: np.ndarray, phrase_bpm: np.ndarray, tolerance: float) -> np.ndarray:
    """(Q,), (P,) → (Q, P) |log tempo ratio| in units of the tolerance, where a dancer moving
    at half or double the phrase's tempo costs OCTAVE_COST more than one on it; 0 where the
    motion's tempo is unknown (NaN) or a phrase has none."""
    q = np.asarray(motion_bpm, float)[:, None]
    p = np.asarray(phrase_bpm, float)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(np.log(p / q))
        octave = np.abs(ratio - math.log(2.0))
        cost = np.minimum(ratio, octave + OCTAVE_COST * math.log1p(tolerance))
        cost = cost / math.log1p(tolerance)
    return np.nan_to_num(cost, nan=0.0, posinf=0.0)


def reranked(similarity: np.ndarray, cost: np.ndarray, k: int, weight: float) -> np.ndarray:
    """(Q, P) scores: each row's k most similar phrases first, ordered among themselves by
    similarity − weight·tempo cost; the rest after them by similarity."""
    k = min(k, similarity.shape[1])
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    out = similarity.astype(np.float64) - 1e3  # below every top-k score
    rows = np.arange(len(similarity))[:, None]
    out[rows, top] = similarity[rows, top] - weight * cost[rows, top]
    return out


def rule_scores(catalog: PhraseCatalog, motion_bpm: np.ndarray, motion_energy: np.ndarray,
                config: RetrievalConfig) -> np.ndarray:
    """(Q, P) minus the hand-made rule's cost over the catalog's phrases; energies are ranked
    among the queries, as a render ranks its chunks."""
    ranks = ranks_01(motion_energy)
    return -np.stack([catalog.costs(float(t), float(r), config)
                      for t, r in zip(motion_bpm, ranks)])


@dataclass(frozen=True)
class PhraseMapper:
    """A trained mapper as renders use it: the motion around a chunk → the index's `rerank_k`
    nearest phrases → the one whose similarity less tempo cost is highest."""

    tower: MotionTower
    config: MapperConfig
    index: PhraseIndex
    encoder: EchelonEncoder  # the render's own diffusion model's (the mapper was trained on it)
    motion: MotionConfig
    phrase_s: float  # the catalog's median phrase length: the motion read around a chunk
    checkpoint_sha256: str

    def choose(self, performance: Performance, center: int, tempo_bpm: float,
               typical_log_speed: float, catalog: PhraseCatalog,
               tolerance: float) -> PhraseCandidate | None:
        """The phrase for the chunk centred on motion frame `center`; None when none of the
        index's nearest phrases is in the catalog (has tokens)."""
        rate, n = performance.frame_rate, performance.n_frames
        half = int(round(self.phrase_s * rate / 2))
        first = max(0, min(center - half, n - 2 * half))
        last = min(n, max(first + 2, center + half))
        steps = motion_steps(performance, first, last, self.encoder, self.motion,
                             self.config.window_steps, typical_log_speed)
        scores, ids = self.index.search(embed_windows(self.tower, steps[None]),
                                        self.config.rerank_k)
        by_id = {c.phrase_id: c for c in catalog.candidates}
        found = [(float(s), by_id[int(i)]) for s, i in zip(scores[0], ids[0]) if int(i) in by_id]
        if not found:
            return None
        similarity = np.array([[s for s, _ in found]])  # (1, K)
        cost = tempo_cost(np.array([tempo_bpm]), np.array([c.tempo_bpm for _, c in found]),
                          tolerance)  # (1, K)
        scores = reranked(similarity, cost, len(found), self.config.tempo_weight)
        return found[int(np.argmax(scores[0]))][1]
