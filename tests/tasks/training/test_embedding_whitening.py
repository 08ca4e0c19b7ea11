"""The embedding's learned map: fitted from perturbation differences, shipped with the package."""

import numpy as np
import pytest

import tasks.analysis.embedding as embedding
from tasks.training.embedding_whitening import fit_whitening


def test_the_map_shrinks_what_perturbations_move_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    differences = 0.01 * rng.normal(size=(2000, 6))
    differences[:, 2] *= 30.0  # one direction that noise and codecs move a lot
    transform = fit_whitening(differences, regularisation=0.0)
    assert np.allclose(transform, transform.T)
    gains = np.linalg.norm(transform, axis=0)
    assert gains[2] < gains[[0, 1, 3, 4, 5]].min() / 10
    whitened = differences @ transform
    assert np.allclose(whitened.T @ whitened / len(whitened), np.eye(6), atol=0.1)


def test_the_shipped_map_fits_this_recipe():
    transform = embedding._whitening()
    assert transform.shape == (embedding.EMBEDDING_DIM, embedding.EMBEDDING_DIM)
    assert np.all(np.isfinite(transform))
    assert np.linalg.eigvalsh((transform + transform.T) / 2).min() > 0


def test_a_map_of_another_version_is_refused(tmp_path, monkeypatch):
    stale = tmp_path / "whitening.npz"
    np.savez(stale, transform=np.eye(embedding.EMBEDDING_DIM, dtype=np.float32),
             embedding_version=embedding.EMBEDDING_VERSION - 1)
    monkeypatch.setattr(embedding, "WHITENING_FILE", stale)
    embedding._whitening.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="refit it"):
            embedding._whitening()
    finally:
        embedding._whitening.cache_clear()
