"""Fit the phrase embedding's learned part: a linear map that whitens what perturbations do.

Positives are two views of one phrase: its span inside the analysed track, and the same audio
cut out, perturbed (−6 dB, white noise at 30 dB SNR, an OGG Vorbis re-encode, a ±3 % time
stretch), written to a file and decoded again, as a search query is. Their difference is what
the hand-made vector (`tasks.analysis.embedding.handmade_vector`) moves for reasons that are
not the music. The map is that difference's covariance to the power −½ (regularised towards
the identity): directions that a perturbation moves much and that tell phrases apart little
are shrunk, the steady ones kept. It is the closed-form, linear case of the contrastive recipe
(CLMR, COLA: two perturbed views of one phrase pulled together, other phrases apart) — the
within-pair scatter whitened, as WCCN does for speaker vectors — so it trains in seconds on
CPU, has no run-to-run noise, and a user never trains anything: the map ships with the
package (`tasks/analysis/embedding_whitening.npz`, this project's licence).

The training material is generated (`synthetic.tracks`): house tracks of seeds 7 and 8 and
shared-kit libraries of kit seeds 11, 13 and 17. The benches' libraries (seeds 2026, 2031, 2041;
kit seeds 29, 37, 41) and the real songs are never in it.

    .venv/bin/python -m tasks.training.embedding_whitening [OUT.npz]

rebuilds the shipped file (about 20 minutes on 2 cores); change
tasks.analysis.embedding.EMBEDDING_VERSION with it.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PERTURBATIONS = ("gain", "noise", "ogg", "tempo")
TRAINING_LIBRARIES = (("generated", 7), ("generated", 8), ("kit", 11), ("kit", 13), ("kit", 17))
REGULARISATION = 0.1  # share of the mean variance added to every direction


def generated_library(folder: Path, n: int, seed: int, kit: bool) -> list[str]:
    """`n` generated house tracks (`kit`: all on one drum kit, each its own patterns)."""
    from synthetic.tracks import random_spec, render, write_track

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        spec = random_spec(rng, kit_seed=seed if kit else None)
        paths.append(str(write_track(render(spec), folder / f"t{i:02d}.wav")))
    return paths


def perturbed(excerpt: np.ndarray, sr: int, kind: str, i: int,
              rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(samples, soundfile format) of one perturbation of a mono excerpt; the OGG re-encode
    happens when the caller writes the samples in that format."""
    import librosa

    if kind == "gain":
        return excerpt * 10 ** (-6 / 20), "WAV"
    if kind == "noise":
        rms = float(np.sqrt(np.mean(excerpt**2)))
        return excerpt + rng.normal(0, rms * 10 ** (-30 / 20), len(excerpt)).astype(np.float32), "WAV"
    if kind == "ogg":
        return excerpt, "OGG"
    return librosa.effects.time_stretch(excerpt, rate=1.03 if i % 2 else 0.97), "WAV"


def perturbed_queries(path: str, start_s: float, end_s: float, i: int, rng: np.random.Generator,
                      folder: Path):
    """For each perturbation of the span [start_s, end_s) of `path`: (kind, the query file,
    its frame features, its duration in seconds), decoded as a search query is."""
    import soundfile as sf

    from tasks.analysis.track import decode_features
    from tasks.config import AnalysisConfig

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    excerpt = audio.mean(axis=1)[int(start_s * sr): int(end_s * sr)]
    for kind in PERTURBATIONS:
        samples, fmt = perturbed(excerpt, sr, kind, i, rng)
        query_path = folder / f"q{i}_{kind}.{fmt.lower()}"
        sf.write(query_path, np.clip(samples, -1, 1), sr, format=fmt)
        _, features, _, _ = decode_features(query_path, AnalysisConfig())
        yield kind, query_path, features, len(samples) / sr


def _analysed_spans(path: str) -> tuple[str, list[tuple[float, float, int]], np.ndarray]:
    from tasks.analysis.embedding import handmade_vector
    from tasks.analysis.track import analyze_track
    from tasks.config import AnalysisConfig

    result = analyze_track(path, AnalysisConfig())
    spans = [(p.start_s, p.end_s, p.n_bars) for p in result.phrases]
    return path, spans, np.array([handmade_vector(result.features, s, e) for s, e, _ in spans])


def perturbation_differences(paths: list[str], n_phrases: int, seed: int,
                             folder: Path) -> np.ndarray:
    """(n_phrases × 4, E): perturbed-query vector minus stored vector, for 8-bar phrases."""
    from tasks.analysis.embedding import handmade_vector

    with ProcessPoolExecutor(2) as pool:
        analysed = list(pool.map(_analysed_spans, paths))
    ids = [(t, j) for t, (_, spans, _) in enumerate(analysed) for j, span in enumerate(spans)
           if span[2] == 8]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(ids), min(n_phrases, len(ids)), replace=False)
    differences = []
    for i, n in enumerate(picked):
        t, j = ids[n]
        path, spans, stored = analysed[t]
        for _, _, features, duration in perturbed_queries(path, *spans[j][:2], i, rng, folder):
            differences.append(handmade_vector(features, 0.0, duration) - stored[j])
    return np.array(differences)


def fit_whitening(differences: np.ndarray, regularisation: float = REGULARISATION) -> np.ndarray:
    """(E, E) symmetric map: the inverse square root of the differences' second moment,
    regularised by `regularisation` × its mean eigenvalue on the diagonal."""
    moment = differences.T @ differences / len(differences)
    moment += regularisation * np.trace(moment) / len(moment) * np.eye(len(moment))
    eigenvalues, vectors = np.linalg.eigh(moment)
    return (vectors * eigenvalues ** -0.5) @ vectors.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?",
                        default=Path(__file__).resolve().parents[1] / "analysis"
                        / "embedding_whitening.npz")
    parser.add_argument("--tracks", type=int, default=20, help="tracks per library")
    parser.add_argument("--phrases", type=int, default=60, help="8-bar phrases per library")
    args = parser.parse_args()
    from tasks.analysis.embedding import EMBEDDING_VERSION

    folder = Path(tempfile.mkdtemp(prefix="echelon-whitening-"))
    differences = []
    for kind, seed in TRAINING_LIBRARIES:
        library = folder / f"{kind}-{seed}"
        paths = generated_library(library / "tracks", args.tracks, seed, kit=kind == "kit")
        (library / "queries").mkdir()
        differences.append(perturbation_differences(paths, args.phrases, seed, library / "queries"))
        print(f"{kind} seed {seed}: {len(differences[-1])} perturbed views", flush=True)
    stacked = np.concatenate(differences)
    np.savez(args.out, transform=fit_whitening(stacked).astype(np.float32),
             embedding_version=EMBEDDING_VERSION, views=len(stacked),
             libraries=np.array([f"{kind} {seed}" for kind, seed in TRAINING_LIBRARIES]))
    print(f"wrote {args.out} from {len(stacked)} perturbed views")


if __name__ == "__main__":
    main()
