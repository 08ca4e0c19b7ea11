import numpy as np

from storage.vector_index import build_index


def _unit(rng, n, d=32):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_sets_are_searched_exactly_with_phrase_ids():
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 200)
    ids = rng.integers(1, 2**62, 200)
    index = build_index(ids, vectors)
    assert index.kind == "flat"
    _, found = index.search(vectors[:5], 1)
    assert found[:, 0].tolist() == ids[:5].tolist()


def test_large_sets_get_hnsw_only_with_a_recall_check():
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 3000)
    ids = np.arange(10, 3010)
    index = build_index(ids, vectors, exact_limit=1000)
    assert index.kind == "hnsw" and index.recall_at_10 >= 0.95
    impossible = build_index(ids, vectors, exact_limit=1000, min_recall=1.01)
    assert impossible.kind == "flat"
