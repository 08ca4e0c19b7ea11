"""A phrase is found again from a re-recorded or re-encoded copy of itself."""

import numpy as np
import soundfile as sf

from storage.vector_index import build_index
from synthetic.tracks import SectionSpec, TrackSpec, render
from tasks.analysis.audio import load_audio
from tasks.analysis.embedding import EMBEDDING_DIM, phrase_embedding
from tasks.analysis.features import frame_features

SR = 22050


def _library():
    """Phrases of 8 bars, every one different: 3 tracks × 4 sections."""
    phrases = []
    for seed, bpm in ((1, 112.0), (2, 121.0), (3, 129.0)):
        spec = TrackSpec(bpm=bpm, seed=seed, sections=tuple(
            SectionSpec(a, 8) for a in ("intro_offhats", "build", "break", "drop")))
        track = render(spec)
        for a, b in zip(track.section_starts, track.section_ends):
            phrases.append(track.samples[int(a * 44100): int(b * 44100)])
    return phrases


def _embed_clip(samples, tmp_path, name, fmt="WAV"):
    path = tmp_path / name
    sf.write(path, samples, 44100, format=fmt)
    audio = load_audio(path, SR)
    return phrase_embedding(frame_features(audio.samples, SR), 0.0, audio.duration_s)


def test_retrieval_survives_gain_noise_and_lossy_encoding(tmp_path):
    clips = _library()
    vectors = np.stack([_embed_clip(c, tmp_path, f"c{i}.wav") for i, c in enumerate(clips)])
    assert vectors.shape == (len(clips), EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    index = build_index(np.arange(len(clips)), vectors)
    rng = np.random.default_rng(0)
    hits = total = 0
    for i, clip in enumerate(clips):
        power = float(np.mean(clip**2))
        variants = {
            "gain": clip * 10 ** (-6 / 20),
            "noise": clip + rng.normal(0, np.sqrt(power / 1000), len(clip)).astype(np.float32),
        }
        queries = [_embed_clip(v, tmp_path, f"q{i}_{k}.wav") for k, v in variants.items()]
        queries.append(_embed_clip(clip, tmp_path, f"q{i}.ogg", fmt="OGG"))
        _, found = index.search(np.stack(queries), 1)
        hits += int((found[:, 0] == i).sum())
        total += len(queries)
    assert hits / total >= 0.95, f"{hits}/{total}"
