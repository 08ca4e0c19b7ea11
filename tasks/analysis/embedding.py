"""Phrase embeddings: a fixed-size, L2-normalised vector per phrase, from its features.

Built only from quantities that a gain change does not move (MFCCs without c0, normalised
chroma, spectral centroid, dB differences), with fixed scales rather than statistics of the
library, so a vector never changes because other tracks were added. The phrase is cut into
four quarters so that the order of events counts, not just their average.
"""

from __future__ import annotations

import hashlib

import numpy as np

from tasks.analysis.features import FrameFeatures

EMBEDDING_DIM = 128
N_PARTS = 4
N_MFCC = 13  # c1..c13


def phrase_embedding(features: FrameFeatures, start_s: float, end_s: float) -> np.ndarray:
    """(EMBEDDING_DIM,) float32, unit length."""
    a, b = features.frames_of(np.array([start_s, end_s]))
    b = max(b, a + N_PARTS)
    b = min(b, features.n_frames)
    a = min(a, max(0, b - N_PARTS))
    mfcc = features.mfcc[1: N_MFCC + 1, a:b] / 20.0  # (13, T): timbre; c0 is loudness, left out
    chroma = features.chroma[:, a:b]  # (12, T): harmony, already max-normalised per frame
    edges = np.linspace(0, mfcc.shape[1], N_PARTS + 1).astype(int)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        hi = max(hi, lo + 1)
        parts.append(mfcc[:, lo:hi].mean(axis=1))  # 13
        parts.append(chroma[:, lo:hi].mean(axis=1) - 0.5)  # 12
    centroid = np.log2(np.maximum(features.centroid_hz[a:b], 20.0) / 1000.0)
    rms = features.rms_db[a:b]
    parts += [
        mfcc.std(axis=1),  # 13
        chroma.std(axis=1),  # 12
        np.array([centroid.mean(), centroid.std(),  # brightness and its movement
                  (rms - rms.max()).mean() / 20.0]),  # dynamics relative to the peak: gain-free
    ]
    vector = np.concatenate(parts).astype(np.float32)
    assert vector.shape == (EMBEDDING_DIM,), vector.shape
    return vector / (np.linalg.norm(vector) + 1e-9)


def phrase_id(track_path: str, content_hash: str, index: int) -> int:
    """A stable, positive 63-bit id for phrase `index` of a track's content at a path."""
    digest = hashlib.sha256(f"{track_path}\0{content_hash}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
