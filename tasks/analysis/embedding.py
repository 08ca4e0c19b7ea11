"""Phrase embeddings: a fixed-size, L2-normalised vector per phrase, from its frame features.

Six views of the phrase, each made unit length, weighted and joined:

- harmony over time: energy-weighted chroma in 8 equal steps of the span (a bar each for an
  8-bar phrase): which chords, in which order;
- arrangement over time: 4 mel bands in 16 steps, after each band's floor (its 20th
  percentile of power over the phrase: sustained noise, hum, a pad) is taken out, so added
  noise changes little; levels are relative to the phrase's peak;
- rhythm in absolute time: the autocorrelation of an onset envelope (from the same floored
  bands) at 72 log-spaced lags from 0.2 to 3 s. It tells apart two tracks that play the same
  pattern at different tempi, and moves only by a lag bin or so with a ±3 % tempo change;
- groove: the same autocorrelation at 1/128 … 16/128 of the span (for an 8-bar phrase every
  16th note up to a bar): which subdivisions the parts play, at any tempo;
- parts: each band's own onset autocorrelation at those lags. It is already free of the
  band's level (1 at lag 0), so a quiet part's pattern counts as much as a loud one's, while
  noise, having no period, only dilutes it: a section that differs from the one before only
  by quiet 16th hats stays apart at 30 dB SNR, where in the summed groove the kick hid them;
- palette: mean and spread of MFCC 1–8 (c0, the level, left out).

Steps are fractions of the span, and a phrase spans whole bars, so the same bars at another
tempo land on the same steps (beat-synchronous without needing beats at query time). Every
view is free of the gain, and of the library: fixed scales, no statistics of other tracks, so a
vector never changes because other tracks were added.

The stored vector is that hand-made one through a learned linear map (a 328 × 328 matrix that
ships with the package, `embedding_whitening.npz`): it shrinks the directions that a
perturbation of the audio (noise, a lossy codec, a tempo change) moves and keeps those it leaves
alone, so the views' fine detail — a quiet part's pattern, a bar's level — counts where it is
steady. It was trained once, contrastively, on pairs of perturbed views of generated phrases
(tasks.training.embedding_whitening); a library never trains it, so it too is fixed.
EMBEDDING_VERSION names recipe and map together; vectors of two versions are never compared
(see tasks.dataset.search).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from tasks.analysis.features import FrameFeatures, rises

# 1: the MFCC/chroma quarters summary (128-d). 2: without the parts view, chroma at a tuning
# estimated from the first block of the file (264-d). 3: the hand-made views below, chroma at
# concert pitch. 4: version 3 through the learned map.
EMBEDDING_VERSION = 4
WHITENING_FILE = Path(__file__).with_name("embedding_whitening.npz")

HARMONY_STEPS = 8
BANDS, BAND_STEPS = 4, 16
LAGS, LAG_RANGE_S, LAG_SMOOTH = 72, (0.2, 3.0), 1.0
GROOVE_LAGS, GROOVE_DIVISIONS = 16, 128
N_MFCC = 8
BAND_FLOOR_PERCENTILE = 20.0
BAND_RANGE_DB = 45.0  # how far below the phrase's peak a band's level is still told apart
WEIGHTS = {"harmony": 1.0, "arrangement": 1.0, "rhythm": 0.3, "groove": 0.3, "parts": 0.5,
           "palette": 0.25}
EMBEDDING_DIM = (HARMONY_STEPS * 12 + BANDS * BAND_STEPS + LAGS + (1 + BANDS) * GROOVE_LAGS
                 + 2 * N_MFCC)  # 328


def phrase_embedding(features: FrameFeatures, start_s: float, end_s: float) -> np.ndarray:
    """(EMBEDDING_DIM,) float32, unit length: what the database stores and search compares."""
    vector = _whitening() @ handmade_vector(features, start_s, end_s)
    return (vector / (np.linalg.norm(vector) + 1e-9)).astype(np.float32)


@cache
def _whitening() -> np.ndarray:
    """(EMBEDDING_DIM, EMBEDDING_DIM) float64, from the file that ships with the package."""
    with np.load(WHITENING_FILE) as stored:
        if int(stored["embedding_version"]) != EMBEDDING_VERSION:
            raise RuntimeError(
                f"{WHITENING_FILE} was fitted for embedding version "
                f"{int(stored['embedding_version'])}, this code embeds version {EMBEDDING_VERSION}: "
                "refit it with `python -m tasks.training.embedding_whitening`")
        return stored["transform"].astype(np.float64)


def handmade_vector(features: FrameFeatures, start_s: float, end_s: float) -> np.ndarray:
    """(EMBEDDING_DIM,) float32, unit length: the six views joined (version 3's vector)."""
    a, b = _frames(features, start_s, end_s)
    bands_db = _floored_bands(features.mel_db[:, a:b])  # (BANDS, T)
    power = 10.0 ** (features.rms_db[a:b] / 10.0)  # (T,) quiet frames weigh little in harmony
    harmony = _steps(features.chroma[:, a:b] * power, HARMONY_STEPS)  # (12, steps)
    harmony = harmony / (harmony.sum(axis=0, keepdims=True) + 1e-12)
    harmony -= harmony.mean(axis=0, keepdims=True)
    arrangement = _steps(bands_db, BAND_STEPS)  # (BANDS, steps)
    band_onsets = rises(bands_db)  # (BANDS, T)
    frame_rate = features.sample_rate / features.hop_length
    onsets = band_onsets.mean(axis=0)
    correlation = _autocorrelation(onsets, int(LAG_RANGE_S[1] * frame_rate) + 2)
    rhythm = _sampled(correlation, np.geomspace(*LAG_RANGE_S, LAGS) * frame_rate)
    groove_lags = len(onsets) * np.arange(1, GROOVE_LAGS + 1) / GROOVE_DIVISIONS
    groove = _sampled(correlation, groove_lags)
    parts = np.stack([_sampled(_autocorrelation(band, len(band)), groove_lags)
                      for band in band_onsets])  # (BANDS, GROOVE_LAGS)
    mfcc = features.mfcc[1: N_MFCC + 1, a:b] / 20.0  # (8, T)
    palette = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])
    views = {"harmony": harmony, "arrangement": arrangement, "rhythm": rhythm, "groove": groove,
             "parts": parts, "palette": palette}
    vector = np.concatenate([WEIGHTS[name] * _unit(view) for name, view in views.items()])
    assert vector.shape == (EMBEDDING_DIM,), vector.shape
    return (vector / (np.linalg.norm(vector) + 1e-9)).astype(np.float32)


def _frames(features: FrameFeatures, start_s: float, end_s: float) -> tuple[int, int]:
    """The span's frames, at least BAND_STEPS of them (a very short span is widened)."""
    a, b = (int(x) for x in features.frames_of(np.array([start_s, end_s])))
    b = min(max(b, a + BAND_STEPS), features.n_frames)
    return min(a, max(0, b - BAND_STEPS)), b


def _floored_bands(mel_db: np.ndarray) -> np.ndarray:
    """(n_mels, T) dB → (BANDS, T) dB of each band's power above its own floor."""
    n_mels, frames = mel_db.shape
    # the geometric mean over a band's mel bins: one loud bin (a tone, a whistle) does not fill it
    power = 10.0 ** (mel_db.reshape(BANDS, n_mels // BANDS, frames).mean(axis=1) / 10.0)
    power = power - np.percentile(power, BAND_FLOOR_PERCENTILE, axis=1, keepdims=True)
    return 10.0 * np.log10(np.maximum(power, power.max() * 10.0 ** (-BAND_RANGE_DB / 10.0)
                                      + 1e-20))


def _steps(matrix: np.ndarray, n: int) -> np.ndarray:
    """(D, T) → (D, n): the mean over each of n equal parts of the time axis."""
    edges = np.linspace(0, matrix.shape[1], n + 1).astype(int)
    return np.stack([matrix[:, lo:max(hi, lo + 1)].mean(axis=1)
                     for lo, hi in zip(edges[:-1], edges[1:])], axis=1)


def _autocorrelation(envelope: np.ndarray, longest: int) -> np.ndarray:
    """(T,) → (max(T, longest),): normalised (1 at lag 0), unbiased autocorrelation."""
    x = envelope.astype(np.float64) - envelope.mean()
    n = len(x)
    size = 2 * max(n, longest)
    correlation = np.fft.irfft(np.abs(np.fft.rfft(x, size)) ** 2, size)[:max(n, longest)]
    lags = np.arange(len(correlation))
    return correlation / (correlation[0] + 1e-12) * n / np.maximum(n - lags, 1)


def _sampled(correlation: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """The correlation at fractional lags (frames), smoothed across neighbouring lags so a
    small tempo change moves it little."""
    return gaussian_filter1d(np.interp(lags, np.arange(len(correlation)), correlation),
                             LAG_SMOOTH)


def _unit(view: np.ndarray) -> np.ndarray:
    flat = np.ravel(view).astype(np.float64)
    flat = flat - flat.mean()
    return flat / (np.linalg.norm(flat) + 1e-9)


def phrase_id(track_path: str, content_hash: str, index: int) -> int:
    """A stable, positive 63-bit id for phrase `index` of a track's content at a path."""
    digest = hashlib.sha256(f"{track_path}\0{content_hash}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
