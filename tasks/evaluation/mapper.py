"""How well a method finds the phrase a recording was danced to: the rank of the paired phrase
among every phrase of the library, as recall@1/5/10 and the median rank, beside chance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echelon_models.mapper import MotionTower
from tasks.config import MapperConfig, RetrievalConfig
from tasks.mapper.ranking import (PhraseLibrary, embed_windows, reranked, rule_scores,
                                  tempo_cost)
from tasks.mapper.windows import PhraseWindow

RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalScore:
    method: str  # "mapper + tempo", "mapper", "tempo alone", "rule", "chance"
    held_out: str  # "unseen tracks", "unseen recordings"
    queries: int
    candidates: int  # phrases ranked for each query
    recall: dict[int, float]  # k → share of queries with the paired phrase in the first k
    median_rank: float  # 1 = first

    def row(self) -> dict:
        return {"method": self.method, "held_out": self.held_out, "queries": self.queries,
                "candidates": self.candidates,
                **{f"recall@{k}": round(v, 3) for k, v in self.recall.items()},
                "median_rank": round(self.median_rank, 1)}


def truth_ranks(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """scores (Q, P), higher first; truth (Q,) column of each query's paired phrase →
    (Q,) ranks from 1. Ties count half, so a method that scores everything alike gets chance."""
    own = scores[np.arange(len(scores)), truth][:, None]
    above = (scores > own).sum(axis=1)
    tied = (scores == own).sum(axis=1) - 1
    return 1.0 + above + 0.5 * tied


def summarize(method: str, held_out: str, ranks: np.ndarray, candidates: int) -> RetrievalScore:
    return RetrievalScore(method, held_out, len(ranks), candidates,
                          {k: float(np.mean(ranks <= k)) if len(ranks) else float("nan")
                           for k in RECALL_AT},
                          float(np.median(ranks)) if len(ranks) else float("nan"))


def chance(held_out: str, queries: int, candidates: int) -> RetrievalScore:
    return RetrievalScore("chance", held_out, queries, candidates,
                          {k: min(1.0, k / candidates) for k in RECALL_AT},
                          (candidates + 1) / 2)


def evaluate_mapper(tower: MotionTower | None, held_out: dict[str, list[PhraseWindow]],
                    library: PhraseLibrary, config: MapperConfig,
                    retrieval: RetrievalConfig = RetrievalConfig()) -> list[RetrievalScore]:
    """For each held-out set: the mapper re-ranked by tempo (what renders use), the mapper
    alone, tempo alone, the hand-made rule, and chance. Without a tower: no mapper rows."""
    scores = []
    for name, windows in held_out.items():
        truth = library.columns([w.phrase_id for w in windows])
        windows = [w for w, t in zip(windows, truth) if t >= 0]
        truth = truth[truth >= 0]
        if not windows:
            continue
        tempo = np.array([w.tempo_bpm for w in windows])
        cost = tempo_cost(tempo, library.tempo, retrieval.tempo_tolerance)  # (Q, P)
        methods = {}
        if tower is not None:
            motion = embed_windows(tower, np.stack([w.steps for w in windows]))  # (Q, E)
            similarity = motion @ library.vectors.T  # (Q, P)
            methods["mapper + tempo"] = reranked(similarity, cost, config.rerank_k,
                                                 config.tempo_weight)
            methods["mapper"] = similarity
        methods["tempo alone"] = -cost
        methods["rule"] = rule_scores(library.catalog, tempo,
                                      np.array([w.energy for w in windows]), retrieval)
        scores += [summarize(m, name, truth_ranks(s, truth), len(library.ids))
                   for m, s in methods.items()]
        scores.append(chance(name, len(windows), len(library.ids)))
    return scores
