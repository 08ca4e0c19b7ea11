"""The FAISS phrase index: ids are the phrase primary keys (IndexIDMap2).

Exact inner-product search while the set is small; HNSW once it is large, kept only if its
recall@10 against exact search on a sample of the data clears `min_recall`. An index holds
vectors of one embedding version, and says which. The file is derived data: written atomically
and sealed with its own SHA-256, the digest of the vectors it was built from and their
version; on open all are checked, and it is rebuilt from the stored embeddings when it is
missing, unreadable, corrupt or disagrees — never served stale.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from storage.atomic import atomic_path, write_text
from storage.stamps import file_sha256

EXACT_LIMIT = 50_000  # below this, flat search is fast enough (≈ms) and exact
SEARCH_BEAMS = (64, 128, 256)  # HNSW efSearch tried in turn until recall@10 is good enough


@dataclass
class PhraseIndex:
    index: faiss.Index
    kind: str  # "flat" | "hnsw"
    recall_at_10: float = 1.0
    embedding_version: int | None = None  # of every vector in it (None: not said)

    @property
    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, D) float32 → scores (Q, k) cosine, ids (Q, k); id -1 pads missing hits."""
        k = max(1, min(k, self.size)) if self.size else 1
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def save(self, path: Path | str, vectors_digest: str = "") -> None:
        """The index, then its seal: the file's SHA-256, the digest of the vectors it was
        built from, and their embedding version. A kill between the two leaves a seal that
        does not match: rebuilt."""
        path = Path(path)
        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))
        write_text(seal_path(path), json.dumps({"file_sha256": file_sha256(path),
                                                "vectors": vectors_digest,
                                                "embedding_version": self.embedding_version}))


def seal_path(path: Path) -> Path:
    return path.with_name(path.name + ".seal.json")


def vectors_digest(ids: np.ndarray, vectors: np.ndarray) -> str:
    """Changes with any stored id or vector: an index built from other vectors is stale."""
    digest = hashlib.sha256(np.ascontiguousarray(ids, np.int64).tobytes())
    digest.update(np.ascontiguousarray(vectors, np.float32).tobytes())
    return digest.hexdigest()


def build_index(ids: np.ndarray, vectors: np.ndarray, exact_limit: int = EXACT_LIMIT,
                min_recall: float = 0.95, seed: int = 0,
                embedding_version: int | None = None) -> PhraseIndex:
    """ids (n,) int64, vectors (n, D) float32 L2-normalised, all of `embedding_version` →
    the index suited to n."""
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        flat.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    if len(ids) < exact_limit:
        return PhraseIndex(flat, "flat", embedding_version=embedding_version)

    hnsw_core = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw_core.hnsw.efConstruction = 80
    hnsw = faiss.IndexIDMap2(hnsw_core)
    hnsw.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    # A wider search beam before giving up on the graph: more dimensions need a wider one
    # for the same recall, and even 256 is far faster than a flat scan of 50,000+ vectors.
    for beam in SEARCH_BEAMS:
        hnsw_core.hnsw.efSearch = beam  # saved with the index
        recall = recall_at_k(flat, hnsw, vectors, k=10, seed=seed)
        if recall >= min_recall:
            return PhraseIndex(hnsw, "hnsw", recall, embedding_version)
    return PhraseIndex(flat, "flat", embedding_version=embedding_version)


def recall_at_k(exact: faiss.Index, approximate: faiss.Index, vectors: np.ndarray, k: int = 10,
                n_queries: int = 500, seed: int = 0) -> float:
    """Share of the exact top-k that the approximate index also returns, on stored vectors
    perturbed slightly (a query is never exactly a stored phrase)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vectors), size=min(n_queries, len(vectors)), replace=False)
    queries = vectors[pick] + rng.normal(0, 0.05, (len(pick), vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = exact.search(queries, k)
    _, found = approximate.search(queries, k)
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found))
    return hits / truth.size


def load_or_rebuild(path: Path | str, ids: np.ndarray, vectors: np.ndarray,
                    embedding_version: int) -> tuple[PhraseIndex, bool]:
    """The index at `path` if its seal matches the file's bytes and exactly these ids and
    vectors of `embedding_version`; else one rebuilt from `vectors` and saved (kept in memory
    only when the home cannot be written, so a read-only home can still be searched).

    Returns (index, rebuilt).
    """
    path = Path(path)
    expected = vectors_digest(ids, vectors)
    index = _sealed_index(path, expected, embedding_version)
    if index is not None and index.ntotal == len(ids):
        kind = "hnsw" if "HNSW" in type(faiss.downcast_index(index.index)).__name__ else "flat"
        return PhraseIndex(index, kind, embedding_version=embedding_version), False
    fresh = build_index(ids, vectors, embedding_version=embedding_version)
    try:
        fresh.save(path, expected)
    except OSError:
        pass  # a read-only or full home: serve the rebuilt index without keeping it
    return fresh, True


def _sealed_index(path: Path, expected_vectors: str, embedding_version: int) -> faiss.Index | None:
    """The stored index, or None when it is missing, unreadable, or its seal says that its
    bytes changed (corruption the ids alone do not show) or that it holds other vectors, or
    vectors of another embedding version."""
    try:
        seal = json.loads(seal_path(path).read_text())
        if (seal.get("vectors") != expected_vectors or seal.get("file_sha256") != file_sha256(path)
                or seal.get("embedding_version") != embedding_version):
            return None
        index = faiss.read_index(str(path))
        faiss.vector_to_array(index.id_map)  # an IDMap2, or AttributeError
        return index
    except (OSError, ValueError, RuntimeError, AttributeError):
        return None
