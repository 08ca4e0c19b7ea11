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


def test_an_index_whose_bytes_or_vectors_changed_is_rebuilt(tmp_path):
    from storage.vector_index import load_or_rebuild

    rng = np.random.default_rng(2)
    vectors = _unit(rng, 500)
    ids = np.arange(1, 501)
    path = tmp_path / "phrases.faiss"
    _, rebuilt = load_or_rebuild(path, ids, vectors, 1)
    assert rebuilt
    index, rebuilt = load_or_rebuild(path, ids, vectors, 1)
    assert not rebuilt

    data = bytearray(path.read_bytes())  # 256 random bytes mid-file: the ids stay intact
    middle = len(data) // 2
    data[middle:middle + 256] = rng.integers(0, 256, 256, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    index, rebuilt = load_or_rebuild(path, ids, vectors, 1)
    scores, found = index.search(vectors[:10], 1)
    assert rebuilt and found[:, 0].tolist() == ids[:10].tolist()
    assert np.all(scores <= 1.0 + 1e-5)  # cosine, not the 1e35 of junk

    other = _unit(rng, 500)  # same ids, other embeddings (a new embedding version)
    index, rebuilt = load_or_rebuild(path, ids, other, 1)
    assert rebuilt and index.search(other[:1], 1)[1][0, 0] == ids[0]
