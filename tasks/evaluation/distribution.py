"""How far the generated audio's phrases lie from the library's: Fréchet distance and the
Kernel Audio Distance, over phrase embeddings, each with a bootstrap confidence interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_ROUNDS = 200
RIDGE = 1e-6  # added to each covariance: a few phrases in 128-d give a singular one


@dataclass(frozen=True)
class Distance:
    value: float
    low: float  # 95 % bootstrap interval
    high: float

    def to_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½) between Gaussians fitted to the rows of `a`
    (n, D) and `b` (m, D), with RIDGE on each covariance's diagonal. 0 for identical sets."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu = a.mean(axis=0) - b.mean(axis=0)
    ridge = RIDGE * np.eye(a.shape[1])
    sa = np.atleast_2d(np.cov(a, rowvar=False)) + ridge
    sb = np.atleast_2d(np.cov(b, rowvar=False)) + ridge
    return float(max(0.0, mu @ mu + np.trace(sa) + np.trace(sb) - 2 * _trace_sqrt_product(sa, sb)))


def kernel_audio_distance(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None) -> float:
    """Kernel Audio Distance: the unbiased estimate of MMD² between the rows of `a` and `b`
    with a Gaussian kernel exp(−‖x − y‖² / 2h²), h the median distance between all rows
    (unless given). Unbiased, so it scatters around 0 for two samples of one distribution and
    can be slightly negative; it needs two rows on each side."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if bandwidth is None:
        both = np.concatenate([a, b])
        distances = np.sqrt(_squared_distances(both, both))
        bandwidth = float(np.median(distances[np.triu_indices(len(both), 1)])) or 1.0
    k = lambda x, y: np.exp(-_squared_distances(x, y) / (2 * bandwidth ** 2))  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (n * (n - 1))
                 + (kbb.sum() - np.trace(kbb)) / (m * (m - 1)) - 2 * kab.mean())


def with_interval(distance, a: np.ndarray, b: np.ndarray, seed: int = 0,
                  rounds: int = BOOTSTRAP_ROUNDS) -> Distance:
    """`distance(a, b)` and its 95 % percentile bootstrap interval: both sets resampled with
    replacement `rounds` times, from a fixed seed (the same sets give the same interval)."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) < 2 or len(b) < 2:
        return Distance(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws = [distance(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
             for _ in range(rounds)]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return Distance(distance(a, b), float(low), float(high))


def _trace_sqrt_product(sa: np.ndarray, sb: np.ndarray) -> float:
    """tr((Σa Σb)^½) of two covariances, as the sum of the square roots of the eigenvalues of
    the symmetric Σa^½ Σb Σa^½ (the same spectrum; a tenth of the time of a general sqrtm)."""
    w, v = np.linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = root @ sb @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.maximum(d, 0.0)
