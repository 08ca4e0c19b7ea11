"""Phrase re-find: is a perturbed copy of a phrase's audio answered with that phrase?

For each library, every track is analysed as the rebuild does (`analyze_track`, phrases,
embeddings); then 8-bar phrases are cut from the original files, perturbed, written to a file
and searched for through `embed_audio` (the query path of `echelon search`):

- gain: −6 dB;  noise: white noise at 30 dB SNR;  ogg: an OGG Vorbis re-encode;
- tempo: ±3 % time stretch (librosa's phase vocoder, pitch kept).

A hit is the very phrase the excerpt was cut from (strict: a repeat of it elsewhere in the
track, or another track, is a miss); "misses in own track" counts the misses whose first
answer is another phrase of the right track (a repeat, or a section that differs only by a
quiet part), and "near-copy" the top-1 that would be if an answer whose clean audio is a
near-copy of the phrase's counted as found: magnitude spectrograms that differ by less than
1 % of their energy (−20 dB; the 30 dB noise adds 0.1 %) at the best lag within 10 ms. Two
halves of one 16-bar section are such copies — the same sounds at the same places of the bar,
a drum hit perhaps a fraction of a sample later — and no embedding can tell them apart from a
perturbed excerpt.

Columns, on the same queries and the same stored analyses: echelon (the hand-made views through
the learned map, tasks.training.embedding_whitening), the hand-made views alone (version 3,
what the map starts from), and the anchor: the hand-made 128-d summary embedding (version 1,
kept below as it was).

Libraries: generated house (`random_spec`, seed `--seed`), and a shared-instrument library
(`random_spec(kit_seed=…)`: every track plays the same drum sounds, each its own patterns;
seed `--kit-seed`). Both are kept out of tuning and of the map's training, which used house
seeds 7 and 8 and kit seeds 11, 13 and 17 (TRAINING_LIBRARIES); so are seeds 2031 / 37 and
2041 / 41. `--corpus DIR` (from ../shared/eval/make_h2corpus.py) adds real songs, 4 of 7 on one
General MIDI kit, never used in tuning or training. Last row: median search latency at 200,000
phrases (the index `build_index` chooses), as in bench/dataset.py.

Usage: .venv/bin/python bench/embedding.py [--tracks 20] [--queries 60] [--corpus DIR] [--seed N --kit-seed N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flows  # noqa: F401,E402  (offline settings)
from storage.vector_index import build_index  # noqa: E402
from tasks.analysis.embedding import (  # noqa: E402
    EMBEDDING_DIM, EMBEDDING_VERSION, handmade_vector, phrase_embedding)
from tasks.analysis.features import FrameFeatures  # noqa: E402
from tasks.analysis.track import analyze_track  # noqa: E402
from tasks.config import AnalysisConfig  # noqa: E402
from tasks.dataset.search import embed_audio  # noqa: E402
from tasks.training.embedding_whitening import (  # noqa: E402
    PERTURBATIONS, generated_library, perturbed_queries)

TARGETS = {"gain": 0.95, "noise": 0.95, "ogg": 0.95, "tempo": 0.85}


def anchor_embedding(features: FrameFeatures, start_s: float, end_s: float) -> np.ndarray:
    """Version 1, as it was: MFCC and chroma means over four quarters, their spreads,
    brightness and dynamics (128-d)."""
    a, b = features.frames_of(np.array([start_s, end_s]))
    b = min(max(b, a + 4), features.n_frames)
    a = min(a, max(0, b - 4))
    mfcc = features.mfcc[1:14, a:b] / 20.0
    chroma = features.chroma[:, a:b]
    edges = np.linspace(0, mfcc.shape[1], 5).astype(int)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        hi = max(hi, lo + 1)
        parts += [mfcc[:, lo:hi].mean(axis=1), chroma[:, lo:hi].mean(axis=1) - 0.5]
    centroid = np.log2(np.maximum(features.centroid_hz[a:b], 20.0) / 1000.0)
    rms = features.rms_db[a:b]
    parts += [mfcc.std(axis=1), chroma.std(axis=1),
              np.array([centroid.mean(), centroid.std(), (rms - rms.max()).mean() / 20.0])]
    vector = np.concatenate(parts).astype(np.float32)
    return vector / (np.linalg.norm(vector) + 1e-9)


EMBEDDINGS = {"echelon": phrase_embedding, "hand-made": handmade_vector, "anchor": anchor_embedding}


def _analyse(path: str) -> tuple[str, list[tuple[float, float, int]], dict[str, np.ndarray]]:
    result = analyze_track(path, AnalysisConfig())
    spans = [(p.start_s, p.end_s, p.n_bars) for p in result.phrases]
    vectors = {name: np.array([embed(result.features, s, e) for s, e, _ in spans])
               for name, embed in EMBEDDINGS.items()}
    return path, spans, vectors


def refind(paths: list[str], n_queries: int, seed: int, folder: Path) -> dict:
    """{(embedding, perturbation): (top-1, top-5)} over 8-bar phrases of the library."""
    with ProcessPoolExecutor(2) as pool:
        analysed = list(pool.map(_analyse, paths))
    ids = [(t, j) for t, (_, spans, _) in enumerate(analysed) for j in range(len(spans))]
    indexes = {name: build_index(np.arange(len(ids)), np.concatenate([a[2][name] for a in analysed]))
               for name in EMBEDDINGS}
    candidates = [n for n, (t, j) in enumerate(ids) if analysed[t][1][j][2] == 8]
    rng = np.random.default_rng(seed)
    picked = rng.choice(candidates, min(n_queries, len(candidates)), replace=False)
    hits = {(name, kind): [0, 0, 0, 0] for name in indexes for kind in PERTURBATIONS}
    copies: dict[tuple[int, int], bool] = {}
    for i, n in enumerate(picked):
        t, j = ids[n]
        start, end, _ = analysed[t][1][j]
        for kind, query_path, features, duration in perturbed_queries(analysed[t][0], start, end,
                                                                       i, rng, folder):
            queries = {"echelon": embed_audio(query_path).vector,
                       "hand-made": handmade_vector(features, 0.0, duration),
                       "anchor": anchor_embedding(features, 0.0, duration)}
            for name, query in queries.items():
                _, found = indexes[name].search(query[None, :], 5)
                first = int(found[0, 0])
                hits[(name, kind)][0] += int(first == n)
                hits[(name, kind)][1] += int(n in found[0])
                hits[(name, kind)][2] += int(first != n and ids[first][0] == t)
                if first != n and ids[first][0] == t and (n, first) not in copies:
                    other = analysed[t][1][ids[first][1]]
                    copies[(n, first)] = near_copy(analysed[t][0], (start, end), other[:2])
                hits[(name, kind)][3] += int(first == n or copies.get((n, first), False))
    return {key: (top1 / len(picked), top5 / len(picked), same, copy / len(picked))
            for key, (top1, top5, same, copy) in hits.items()} | {
        "queries": len(picked), "phrases": len(ids), "tracks": len(paths)}


def near_copy(path: str, a: tuple[float, float], b: tuple[float, float],
              threshold_db: float = -20.0) -> bool:
    """Whether two spans of one file hold (nearly) the same sound: their magnitude
    spectrograms differ by less than 1 % of the energy (−20 dB) at the best lag within ±10 ms.
    Magnitudes, not waveforms: a drum hit placed a fraction of a sample later in the second
    half of a section is the same sound, though its waveform no longer correlates."""
    import librosa
    import soundfile as sf

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    samples = audio.mean(axis=1)
    n = int(min(a[1] - a[0], b[1] - b[0]) * sr)
    x = samples[int(a[0] * sr): int(a[0] * sr) + n]
    reference = np.abs(librosa.stft(x, n_fft=2048, hop_length=512))
    best = np.inf
    for lag in range(-int(0.01 * sr), int(0.01 * sr) + 1, int(0.001 * sr)):
        first = int(b[0] * sr) + lag
        y = samples[max(0, first): first + n]
        if len(y) < n:
            continue
        other = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
        best = min(best, float(np.sum((reference - other) ** 2) / (np.sum(reference**2) + 1e-12)))
    return 10 * np.log10(best + 1e-12) <= threshold_db


def latency_at(n: int, n_queries: int = 500) -> tuple[str, float, float]:
    """(index kind, median ms per query, recall@10 vs exact) on clustered phrase-like vectors."""
    rng = np.random.default_rng(n)
    centres = rng.normal(size=(n // 10 + 1, EMBEDDING_DIM)).astype(np.float32)
    vectors = centres[np.arange(n) // 10] + 0.35 * rng.normal(size=(n, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(np.arange(n, dtype=np.int64), vectors)
    queries = vectors[rng.choice(n, n_queries, replace=False)]
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], 10)
        times.append(time.perf_counter() - start)
    return index.kind, 1000 * float(np.median(times)), index.recall_at_10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--queries", type=int, default=60, help="8-bar phrases per library")
    parser.add_argument("--seed", type=int, default=2026, help="generated library (held out)")
    parser.add_argument("--kit-seed", type=int, default=29, help="shared-instrument library (held out)")
    parser.add_argument("--corpus", type=Path, default=None, help="real songs: tracks/*.wav")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="echelon-bench-embedding-"))
    libraries = {
        f"generated (seed {args.seed})": generated_library(folder / "generated", args.tracks,
                                                          args.seed, kit=False),
        f"shared kit (seed {args.kit_seed})": generated_library(folder / "kit", args.tracks,
                                                               args.kit_seed, kit=True),
    }
    if args.corpus is not None:
        libraries[f"real songs ({args.corpus.name})"] = sorted(
            str(p) for p in (args.corpus / "tracks").glob("*.wav"))
    results = {}
    for name, paths in libraries.items():
        queries = folder / f"queries-{len(results)}"
        queries.mkdir()
        results[name] = refind(paths, args.queries, args.seed, queries)

    rows = []
    for name, r in results.items():
        for kind in PERTURBATIONS:
            ours, handmade, anchor = (r[(name, kind)] for name in EMBEDDINGS)
            met = "met" if ours[0] >= TARGETS[kind] else "NOT met"
            misses = round((1 - ours[0]) * r["queries"])
            rows.append((f"{name}: {kind}", f"{ours[0]:.2f} / {ours[1]:.2f}",
                         f"{ours[2]} of {misses}" if misses else "—", f"{ours[3]:.2f}",
                         f"{handmade[0]:.2f} / {handmade[1]:.2f}",
                         f"{anchor[0]:.2f} / {anchor[1]:.2f}",
                         f"{ours[0] / max(anchor[0], 1e-9):.2f}×",
                         f"top-1 ≥ {TARGETS[kind]:.2f} {met}"))
    kind, ms, recall = latency_at(200_000)
    rows.append((f"search @ 200,000 phrases, {EMBEDDING_DIM}-d ({kind}): median ms", f"{ms:.3f}",
                 "—", "—", "—", "—", "—", f"≤ 1 ms {'met' if ms <= 1 else 'NOT met'} (recall@10 {recall:.3f})"))
    header = ("re-find (top-1 / top-5)", f"echelon v{EMBEDDING_VERSION}", "misses in own track",
              "top-1, near-copy found", "hand-made v3", "anchor v1",
              "ratio", "target")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for name, r in results.items():
        print(f"{name}: {r['tracks']} tracks, {r['phrases']} phrases, {r['queries']} queries "
              "of 8 bars per perturbation")


if __name__ == "__main__":
    main()
