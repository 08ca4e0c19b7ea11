"""A phrase is found again from a re-recorded, re-encoded or re-timed copy of itself, among
phrases of tracks that all play the same drum sounds (one producer's kit)."""

import librosa
import numpy as np
import soundfile as sf

from storage.vector_index import build_index
from synthetic.tracks import SectionSpec, TrackSpec, random_patterns, render
from tasks.analysis.audio import load_audio
from tasks.analysis.embedding import EMBEDDING_DIM, phrase_embedding
from tasks.analysis.features import frame_features

SR = 22050
KIT = 3


def _library():
    """8-bar phrases, 3 tracks × 3 sections, every track on one kit with its own patterns."""
    rng = np.random.default_rng(KIT)
    phrases = []
    for seed, bpm in ((1, 112.0), (2, 121.0), (3, 129.0)):
        spec = TrackSpec(bpm=bpm, seed=seed, kit_seed=KIT, patterns=random_patterns(rng),
                         sections=tuple(SectionSpec(a, 8) for a in ("build", "break", "drop")))
        track = render(spec)
        for a, b in zip(track.section_starts, track.section_ends):
            phrases.append(track.samples[int(a * 44100): int(b * 44100)])
    return phrases


def _embed_clip(samples, tmp_path, name, fmt="WAV"):
    path = tmp_path / name
    sf.write(path, samples, 44100, format=fmt)
    audio = load_audio(path, SR)
    return phrase_embedding(frame_features(audio.samples, SR), 0.0, audio.duration_s)


def test_retrieval_survives_gain_noise_lossy_encoding_and_tempo(tmp_path):
    clips = _library()
    vectors = np.stack([_embed_clip(c, tmp_path, f"c{i}.wav") for i, c in enumerate(clips)])
    assert vectors.shape == (len(clips), EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    index = build_index(np.arange(len(clips)), vectors)
    rng = np.random.default_rng(0)
    hits = {"gain": 0, "noise": 0, "ogg": 0, "tempo": 0}
    for i, clip in enumerate(clips):
        power = float(np.mean(clip**2))
        queries = {
            "gain": _embed_clip(clip * 10 ** (-6 / 20), tmp_path, f"q{i}_gain.wav"),
            "noise": _embed_clip(clip + rng.normal(0, np.sqrt(power / 1000), len(clip))
                                 .astype(np.float32), tmp_path, f"q{i}_noise.wav"),
            "ogg": _embed_clip(clip, tmp_path, f"q{i}.ogg", fmt="OGG"),
            "tempo": _embed_clip(librosa.effects.time_stretch(clip, rate=1.03 if i % 2 else 0.97),
                                 tmp_path, f"q{i}_tempo.wav"),
        }
        _, found = index.search(np.stack(list(queries.values())), 1)
        for kind, top in zip(queries, found[:, 0]):
            hits[kind] += int(top == i)
    assert hits == {kind: len(clips) for kind in hits}, hits


def test_an_excerpt_embeds_as_its_span_does_inside_the_track():
    """Chroma does not depend on what else the file holds: a track whose first half is tuned
    40 cents sharp (a detuned sample, a record off speed) does not shift its second half's
    chords away from the same bars searched for on their own."""
    t = np.arange(10 * SR) / SR
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7))  # A major, G major at A = 440 Hz
    sharp = sum(np.sin(2 * np.pi * 440.0 * 2 ** (0.4 / 12) * k * t) / k for k in (1, 2, 3))
    sharp[int(9.8 * SR):] = 0.0  # a breath between the parts: the span's edge frames agree
    tuned = np.concatenate([sum(np.sin(2 * np.pi * f * t[: 5 * SR]) for f in chord)
                            for chord in chords])
    track = (0.1 * np.concatenate([sharp, tuned])).astype(np.float32)
    inside = phrase_embedding(frame_features(track, SR), 10.0, 20.0)
    alone = phrase_embedding(frame_features(track[10 * SR:], SR), 0.0, 10.0)
    assert float(inside @ alone) > 0.99
