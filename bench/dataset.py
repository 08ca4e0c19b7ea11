"""The dataset flow: orchestration overhead, a no-change rebuild, search latency and recall.

1. Throughput: `rebuild_flow` over a generated library vs the same files through
   `analyze_file` in a plain loop without Prefect (minutes of audio per minute, overhead).
2. No-change rebuild over 1,000 files: the database already knows them (records with their
   real sizes, mtimes and content hashes), so the run must analyse nothing, fast.
3. Search at 10k and 200k phrases: the index `build_index` chooses vs exact (flat) search,
   median single-query latency and recall@10, on clustered vectors shaped like phrase
   embeddings (phrases of a track sit close together).

Usage: .venv/bin/python bench/dataset.py [--tracks 8] [--files 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow  # noqa: E402

import flows  # noqa: F401,E402  (offline settings)
from flows.dataset import rebuild_flow  # noqa: E402
from storage.db import PhraseDatabase  # noqa: E402
from storage.home import Home  # noqa: E402
from storage.records import PhraseRecord, TrackRecord  # noqa: E402
from storage.stamps import content_hash  # noqa: E402
from storage.vector_index import build_index  # noqa: E402
from synthetic.tracks import random_spec, render, write_track  # noqa: E402
from tasks.analysis.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, phrase_id  # noqa: E402
from tasks.config import AnalysisConfig  # noqa: E402
from tasks.dataset.rebuild import analyze_file, config_hash, discover  # noqa: E402


@flow(name="bench-warm-up")
def _warm_up() -> None:
    """Starts Prefect's temporary server once, so no timing below includes it."""


def throughput(folder: Path, n_tracks: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    library = folder / "library"
    seconds_of_audio = 0.0
    for i in range(n_tracks):
        track = render(random_spec(rng))
        write_track(track, library / f"t{i:02d}.wav")
        seconds_of_audio += track.spec.duration_s
    config = AnalysisConfig()
    files = discover(library)
    analyze_file(files[0], "warm-up", config)  # model loading is a one-off cost for both

    start = time.perf_counter()
    for f in files:
        analyze_file(f, content_hash(f.path), config)
    plain = time.perf_counter() - start

    start = time.perf_counter()
    summary = rebuild_flow(library=library, home=folder / "home", config=config)
    orchestrated = time.perf_counter() - start
    assert summary["analyzed"] == n_tracks, summary
    return {"audio_min": seconds_of_audio / 60, "plain_s": plain, "flow_s": orchestrated}


def no_change(folder: Path, n_files: int) -> dict:
    """1,000 files the database already holds; the rebuild must skip them all."""
    library = folder / "big-library"
    library.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n_files):
        (library / f"f{i:04d}.wav").write_bytes(rng.bytes(2048))  # never decoded: it is known
    config = AnalysisConfig()
    chash = config_hash(config)
    home = Home(folder / "big-home")
    database = PhraseDatabase.open(home.db_url())
    for f in discover(library):
        digest = content_hash(f.path)
        vectors = rng.normal(size=(10, EMBEDDING_DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        phrases = tuple(PhraseRecord(phrase_id(f.path, digest + chash, j), j, 8.0 * j, 8.0 * j + 8, 4, 0,
                                     np.zeros(70, np.float32), vectors[j], EMBEDDING_VERSION)
                        for j in range(10))
        database.save_record(TrackRecord(f.path, digest, f.size, f.mtime_ns, chash, "ok", duration_s=80.0,
                                         sample_rate=44100, channels=2, tempo_bpm=120.0,
                                         beats=np.arange(160) * 0.5, positions=np.tile(np.arange(1, 5), 40),
                                         phrases=phrases), "seed")
    rebuild_flow(library=library, home=home.root, config=config)  # writes the index and Parquet once
    start = time.perf_counter()
    summary = rebuild_flow(library=library, home=home.root, config=config)
    seconds = time.perf_counter() - start
    assert summary["analyzed"] == 0 and summary["skipped"] == n_files, summary
    return {"files": n_files, "phrases": summary["phrases"], "seconds": seconds}


def clustered_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Phrase-like: groups of ~10 near each other (a track), groups spread out."""
    centres = rng.normal(size=(n // 10 + 1, EMBEDDING_DIM)).astype(np.float32)
    vectors = centres[np.arange(n) // 10] + 0.35 * rng.normal(size=(n, EMBEDDING_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def search_at(n: int, n_queries: int = 1000) -> dict:
    rng = np.random.default_rng(n)
    vectors = clustered_vectors(n, rng)
    ids = np.arange(1, n + 1, dtype=np.int64)
    start = time.perf_counter()
    chosen = build_index(ids, vectors)
    build_s = time.perf_counter() - start
    exact = build_index(ids, vectors, exact_limit=n + 1)
    queries = vectors[rng.choice(n, n_queries, replace=False)]
    queries = queries + 0.1 * rng.normal(size=queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    def latencies(index) -> tuple[float, np.ndarray]:
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, hit = index.search(q[None, :], 10)
            times.append(time.perf_counter() - t)
            found.append(hit[0])
        return float(np.median(times)) * 1000, np.array(found)

    chosen_ms, chosen_hits = latencies(chosen)
    exact_ms, exact_hits = latencies(exact)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(chosen_hits, exact_hits)])
    return {"n": n, "kind": chosen.kind, "build_s": build_s, "ms": chosen_ms, "exact_ms": exact_ms,
            "recall": float(recall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="echelon-bench-dataset-"))
    _warm_up()

    t = throughput(folder, args.tracks, args.seed)
    n = no_change(folder, args.files)
    searches = [search_at(10_000), search_at(200_000)]

    overhead = t["flow_s"] / t["plain_s"] - 1
    rows = [
        ("rebuild throughput (audio min / min)", f"{60 * t['audio_min'] / t['flow_s']:.1f}",
         f"{60 * t['audio_min'] / t['plain_s']:.1f} (plain loop)", f"{t['flow_s'] / t['plain_s']:.2f}×",
         f"overhead {100 * overhead:+.1f}% (≤ 10%)"),
        (f"no-change rebuild, {n['files']} files / {n['phrases']} phrases (s)", f"{n['seconds']:.2f}", "—", "—",
         "≤ 5 s" + (" met" if n["seconds"] <= 5 else " NOT met")),
    ]
    for s in searches:
        rows.append((f"search @ {s['n']:,} phrases: median ms ({s['kind']}, built {s['build_s']:.1f}s)",
                     f"{s['ms']:.3f}", f"{s['exact_ms']:.3f} (flat)", f"{s['ms'] / s['exact_ms']:.2f}×",
                     f"recall@10 {s['recall']:.3f} (≥ 0.95), ≤ 2 ms"
                     + (" met" if s["recall"] >= 0.95 and s["ms"] <= 2 else " NOT met")))
    widths = [max(len(r[i]) for r in rows + [("measure", "echelon", "anchor", "ratio", "target")])
              for i in range(5)]
    header = ("measure", "echelon", "anchor", "ratio", "target")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"library: {args.tracks} generated tracks, {t['audio_min']:.1f} min of audio")


if __name__ == "__main__":
    main()
