"""Frame features from one STFT, beat-synchronous matrices and per-phrase summaries.

Everything is derived from a single magnitude spectrogram at the feature rate (22.05 kHz,
hop 512 ≈ 23 ms), so adding a feature costs a matrix product, not another pass over the audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

# Order of the rows of the per-phrase summary vector; the phrase embedding relies on it.
SUMMARY_FEATURES = ("mfcc", "chroma", "rms_db", "centroid_hz", "onset")


@dataclass(frozen=True)
class FrameFeatures:
    sample_rate: int
    hop_length: int
    mel_db: np.ndarray  # (n_mels, T) log-power mel spectrogram, dB
    mfcc: np.ndarray  # (n_mfcc, T)
    chroma: np.ndarray  # (12, T), each column max-normalized
    onset: np.ndarray  # (T,) onset strength (mel spectral flux)
    rms_db: np.ndarray  # (T,) frame energy, dB
    centroid_hz: np.ndarray  # (T,) spectral centroid

    @property
    def n_frames(self) -> int:
        return self.mel_db.shape[1]

    def frames_of(self, times_s: np.ndarray) -> np.ndarray:
        frames = librosa.time_to_frames(times_s, sr=self.sample_rate, hop_length=self.hop_length)
        return np.clip(frames, 0, self.n_frames - 1)


def frame_features(
    samples: np.ndarray,  # (N,) mono float32 at sample_rate
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 64,
    n_mfcc: int = 20,
) -> FrameFeatures:
    stft = np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=hop_length))  # (1 + n_fft/2, T)
    power = stft**2
    mel = librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=n_mels)
    mel_db = librosa.power_to_db(mel, ref=1.0, top_db=None).astype(np.float32)
    mel_db = np.maximum(mel_db, -100.0)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=n_mfcc).astype(np.float32)
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate).astype(np.float32)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sample_rate).astype(np.float32)
    rms = librosa.feature.rms(S=stft, frame_length=n_fft)[0]
    rms_db = librosa.amplitude_to_db(rms, ref=1.0, top_db=None).astype(np.float32)
    centroid = librosa.feature.spectral_centroid(S=stft, sr=sample_rate)[0].astype(np.float32)
    return FrameFeatures(sample_rate, hop_length, mel_db, mfcc, chroma, onset,
                         np.maximum(rms_db, -100.0), centroid)


def span_summary(features: FrameFeatures, start_s: float, end_s: float) -> np.ndarray:
    """Mean and standard deviation of each summary feature over [start_s, end_s): (D,) float32.

    D = 2 * (n_mfcc + 12 + 3); the phrase embedding uses this vector as its input.
    """
    a, b = features.frames_of(np.array([start_s, end_s]))
    b = max(b, a + 1)
    parts = []
    for name in SUMMARY_FEATURES:
        matrix = np.atleast_2d(getattr(features, name))[:, a:b]
        parts.append(matrix.mean(axis=1))
        parts.append(matrix.std(axis=1))
    return np.concatenate(parts).astype(np.float32)


def summary_value(summary: np.ndarray, name: str, statistic: str = "mean") -> float:
    """One scalar feature of a span_summary vector (rms_db, centroid_hz or onset), whatever
    the number of MFCCs it was made with."""
    scalars = SUMMARY_FEATURES[2:]  # after mfcc and chroma, each feature has one row
    if name not in scalars:
        raise ValueError(f"{name!r} is not a scalar summary feature ({', '.join(scalars)})")
    offset = len(summary) - 2 * len(scalars) + 2 * scalars.index(name)
    return float(summary[offset + (statistic == "std")])


def segment_means(matrix: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(D, T) and k frame bounds → (D, k-1) means over [bounds[j], bounds[j+1]).

    One cumulative sum serves every segment; an empty segment takes its first frame.
    """
    csum = np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)
    starts, ends = bounds[:-1], np.maximum(bounds[1:], bounds[:-1] + 1)
    ends = np.minimum(ends, matrix.shape[1])
    starts = np.minimum(starts, ends - 1)
    return ((csum[:, ends] - csum[:, starts]) / (ends - starts)).astype(np.float32)
