"""Frame features from one STFT, beat-synchronous matrices and per-phrase summaries.

Everything is derived from a single magnitude spectrogram at the feature rate (22.05 kHz,
hop 512 ≈ 23 ms), so adding a feature costs a matrix product, not another pass over the audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from tasks.analysis.stream import Span

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
    """Features of a whole signal: one block of `FeatureBuilder`, so a signal fed a block at a
    time gets the same frames."""
    builder = FeatureBuilder(sample_rate, n_fft, hop_length, n_mels, n_mfcc)
    builder.add(Span(samples, 0, 0, len(samples), len(samples), sample_rate))
    return builder.result()


class FeatureBuilder:
    """Frame features of a signal that arrives in blocks (see tasks.analysis.stream).

    Each block gives the frames whose centres fall in the span it owns, computed from its
    samples with context; the per-frame features are concatenated, and the onset envelope
    (a difference across frames) is taken over the whole at the end. Chroma is computed at
    concert pitch (A = 440 Hz), not at a tuning estimated from the signal: an estimate
    depends on what the first block holds (a drum intro gives none, a pad another), so an
    excerpt searched for on its own and the same bars inside their track would get chroma
    shifted against each other (on generated tracks, −6 dB alone cut a phrase's harmony
    similarity to its own excerpt to 0.74)."""

    def __init__(self, sample_rate: int, n_fft: int = 2048, hop_length: int = 512,
                 n_mels: int = 64, n_mfcc: int = 20):
        self.sample_rate, self.n_fft, self.hop, self.n_mfcc = sample_rate, n_fft, hop_length, n_mfcc
        self.mel_basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, span: Span) -> None:
        """The frames whose centres `span` owns."""
        first, end = span.centred_frames(self.hop)
        if end <= first:
            return
        stft = stft_frames(span.chunk, span.origin, first, end, self.n_fft, self.hop)  # (1 + n_fft/2, n)
        power = stft**2
        mel_db = librosa.power_to_db(self.mel_basis @ power, ref=1.0, top_db=None)
        mel_db = np.maximum(mel_db, -100.0).astype(np.float32)
        # concert pitch, whatever the block holds (see the class note)
        chroma = librosa.feature.chroma_stft(S=power, sr=self.sample_rate, tuning=0.0)
        rms = librosa.feature.rms(S=stft, frame_length=self.n_fft)[0]
        rms_db = librosa.amplitude_to_db(rms, ref=1.0, top_db=None)
        centroid = librosa.feature.spectral_centroid(S=stft, sr=self.sample_rate)[0]
        self.parts.append((mel_db, librosa.feature.mfcc(S=mel_db, n_mfcc=self.n_mfcc),
                           chroma, np.maximum(rms_db, -100.0), centroid))

    def result(self) -> FrameFeatures:
        mel_db, mfcc, chroma, rms_db, centroid = (
            np.concatenate(column, axis=-1).astype(np.float32) for column in zip(*self.parts))
        onset = librosa.onset.onset_strength(S=mel_db, sr=self.sample_rate).astype(np.float32)
        return FrameFeatures(self.sample_rate, self.hop, mel_db, mfcc, chroma, onset, rms_db,
                             centroid)


def stft_frames(chunk: np.ndarray, origin: int, first: int, end: int, n_fft: int,
                hop: int) -> np.ndarray:
    """|STFT| of the centred frames first … end−1 of a signal (zero outside it) of which
    `chunk` holds the samples from `origin`: (1 + n_fft/2, end − first) float32."""
    a = first * hop - n_fft // 2 - origin  # in chunk coordinates
    b = (end - 1) * hop + n_fft - n_fft // 2 - origin
    segment = chunk[max(a, 0): max(min(b, len(chunk)), 0)]
    segment = np.pad(segment, (max(0, -a), max(0, b - max(a, len(chunk)))))
    return np.abs(librosa.stft(segment, n_fft=n_fft, hop_length=hop, center=False))


def rises(matrix: np.ndarray) -> np.ndarray:
    """(D, T) → (D, T): how much each row rose since the frame before (falls count 0, and so
    does the first frame): the spectral flux of each band, from which onsets are read."""
    return np.maximum(np.diff(matrix, axis=1, prepend=matrix[:, :1]), 0.0)


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
