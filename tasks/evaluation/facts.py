"""What the evaluator needs to know of one audio file, measured once: its tempo and beats (our
own beat tracker, as the library's analysis uses it), its onsets, its phrase embeddings, and
its level. A file that cannot be analysed keeps its level figures and NaN for the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np

from tasks.analysis.audio import AudioError, read_frames
from tasks.analysis.embedding import phrase_embedding
from tasks.analysis.track import analyze_track
from tasks.config import AnalysisConfig
from tasks.evaluation.level import clipping_share, integrated_lufs, silence_share


@dataclass(frozen=True)
class AudioFacts:
    path: str
    duration_s: float
    tempo_bpm: float
    beats: np.ndarray  # (n,) seconds of the file
    onsets: np.ndarray  # (m,) seconds of the file
    lufs: float
    clipping: float
    silence: float
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    error: str | None = None  # why beats and onsets are missing


def audio_facts(path: Path | str, config: AnalysisConfig | None = None) -> AudioFacts:
    """Measure `path` (a WAV the renderer wrote, or any audio the library reads); raises
    AudioError when it cannot be read at all."""
    config = config or AnalysisConfig()
    samples, rate = read_frames(path)  # (N, C) as written; AudioError when it is not audio
    level = dict(lufs=integrated_lufs(samples, rate), clipping=clipping_share(samples),
                 silence=silence_share(samples, rate))
    try:
        analysis = analyze_track(path, config)
    except AudioError as error:  # too short or silent to find beats in: level figures only
        return AudioFacts(str(path), len(samples) / rate, float("nan"), np.zeros(0), np.zeros(0),
                          **level, error=error.detail)
    features = analysis.features
    frames = librosa.onset.onset_detect(onset_envelope=features.onset, sr=features.sample_rate,
                                        hop_length=features.hop_length)
    onsets = librosa.frames_to_time(frames, sr=features.sample_rate,
                                    hop_length=features.hop_length)
    embeddings = np.array([phrase_embedding(features, p.start_s, p.end_s)
                           for p in analysis.phrases], np.float32)
    return AudioFacts(str(path), analysis.duration_s, analysis.tempo_bpm,
                      np.asarray(analysis.beat_track.beats, float), np.asarray(onsets, float),
                      **level, embeddings=embeddings)
