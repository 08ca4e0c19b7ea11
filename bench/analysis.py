"""Analysis accuracy and speed: this project vs madmom's DBN alone and librosa, same run.

Generates its own house-like tracks (60–120 s, 95–145 BPM, sections of 4/8/16 bars, intros
with only off-beat hats, drumless breaks), writes them as WAV, and analyses each file with:

- echelon (madmom): `analyze_track` — decode + madmom activations + beat grid + phrases + features
- echelon (librosa): the same with `beats.backend: librosa`
- madmom DBN: madmom's own RNNDownBeatProcessor + DBNDownBeatTrackingProcessor on the file
- librosa: beat_track; sections by agglomerative clustering given the true section count

With `--corpus DIR` (a folder built by `../shared/eval/make_h2corpus.py DIR` or
`bench/make_midi_corpus.py DIR`, or both with `make corpus`: real, human-made songs with truth
from their source files) the same table is printed for those songs too; repeat it for more
corpora. A corpus that marks a held-out half (the MIDI ones) gets a table per half.

With a corpus, each song's beat / downbeat / section F follows (echelon and madmom alone).

Usage: .venv/bin/python bench/analysis.py [--tracks 10] [--seed 2026] [--corpus DIR ...]
       make corpus && make bench   (every corpus: corpus/h2, corpus/midi, corpus/freedoom)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flows  # noqa: F401,E402  (offline settings)
from synthetic.tracks import random_spec, render, write_track  # noqa: E402
from tasks.analysis.accuracy import beat_f, boundary_f  # noqa: E402
from tasks.analysis.track import analyze_track  # noqa: E402
from tasks.config import AnalysisConfig, BeatsConfig  # noqa: E402

TARGETS = {"beat_f": 0.97, "downbeat_f": 0.95, "section_f": 0.90, "time_ratio": 1.3}


def madmom_alone(path: Path):
    import onnxruntime
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    onnxruntime.set_default_logger_severity(3)
    if not hasattr(madmom_alone, "procs"):
        madmom_alone.procs = (RNNDownBeatProcessor(),
                              DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100))
    rnn, dbn = madmom_alone.procs
    result = dbn(rnn(str(path)))  # (n, 2): time, position in bar
    return result[:, 0], result[result[:, 1] == 1, 0], None


def librosa_alone(path: Path, n_sections: int | None):
    """beat_track's beats; sections by agglomerative clustering into `n_sections` (None: the
    song has no section truth, and no sections are asked for)."""
    import librosa

    y, sr = librosa.load(str(path), sr=22050)
    _, beats = librosa.beat.beat_track(y=y, sr=sr, units="frames")
    times = librosa.frames_to_time(beats, sr=sr)
    if n_sections is None:
        return times, None, None
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)
    sync = librosa.util.sync(np.vstack([mfcc, chroma]), beats)
    bounds = librosa.segment.agglomerative(sync, n_sections)
    beat_times = np.concatenate([[0.0], times])  # sync's first column starts at frame 0
    return times, None, beat_times[bounds[1:]]


CONFIDENCE: dict[str, tuple[float, float]] = {}  # path → (beat, downbeat) of echelon (madmom)
ANALYSES: dict[str, object] = {}  # path → echelon (madmom)'s analysis, for the section baseline


def echelon(path: Path, config: AnalysisConfig):
    result = analyze_track(path, config)
    bt = result.beat_track
    if config.beats.backend == "madmom":
        CONFIDENCE[str(path)] = (bt.beat_confidence, bt.downbeat_confidence)
        ANALYSES[str(path)] = result
    return bt.beats, bt.downbeats, np.array([s.start_s for s in result.sections[1:]])


def laplacian_sections(path: Path, k: int = 5):
    """The structural baseline: McFee & Ellis (2014) Laplacian segmentation, as in librosa's
    example (k = 5), on echelon's bar grid: bar-synchronous chroma for the recurrence, MFCC
    for the path, boundaries where the cluster label changes. It reuses echelon's analysis
    of the file, so its time is the segmentation's alone."""
    import librosa
    import scipy
    import sklearn.cluster

    from tasks.analysis.features import segment_means
    from tasks.analysis.phrases import _bar_end

    result = ANALYSES[str(path)]
    downbeats, features = result.beat_track.downbeats, result.features
    edges = features.frames_of(np.append(downbeats, _bar_end(downbeats, result.duration_s)))
    chroma = segment_means(features.chroma, edges)  # (12, n_bars)
    timbre = segment_means(features.mfcc, edges).T  # (n_bars, 20)
    if chroma.shape[1] < 2 * k:
        return None, None, np.zeros(0)
    recurrence = librosa.segment.recurrence_matrix(chroma, width=2, mode="affinity", sym=True)
    recurrence = librosa.segment.timelag_filter(scipy.ndimage.median_filter)(recurrence,
                                                                            size=(1, 5))
    step = np.sum(np.diff(timbre, axis=0) ** 2, axis=1)
    path_sim = np.exp(-step / (np.median(step) + 1e-9))
    path_graph = np.diag(path_sim, k=1) + np.diag(path_sim, k=-1)
    deg_path, deg_rec = path_graph.sum(axis=1), recurrence.sum(axis=1)
    mu = deg_path.dot(deg_path + deg_rec) / (np.sum((deg_path + deg_rec) ** 2) + 1e-9)
    laplacian = scipy.sparse.csgraph.laplacian(mu * recurrence + (1 - mu) * path_graph,
                                               normed=True)
    _, vectors = scipy.linalg.eigh(laplacian)
    vectors = scipy.ndimage.median_filter(vectors, size=(5, 1))
    norm = np.cumsum(vectors ** 2, axis=1) ** 0.5
    points = vectors[:, :k] / (norm[:, k - 1:k] + 1e-9)
    labels = sklearn.cluster.KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(points)
    changes = np.flatnonzero(np.diff(labels)) + 1
    return None, None, downbeats[changes]


def confidence_split(sets: list[tuple[list, dict]]) -> None:
    """Does a low confidence mean something? echelon's F on the tracks above and below the
    levels that `echelon rebuild` flags, over every set measured."""
    from tasks.analysis.beats import LOW_BEAT_CONFIDENCE, LOW_DOWNBEAT_CONFIDENCE

    groups: dict[str, list[tuple[float, float]]] = {"confident": [], "flagged low": []}
    for tracks, rows in sets:
        scores = rows["echelon (madmom)"]["per_track"]
        for i, (path, _) in enumerate(tracks):
            beat, down = CONFIDENCE[str(path)]
            low = beat < LOW_BEAT_CONFIDENCE or down < LOW_DOWNBEAT_CONFIDENCE
            groups["flagged low" if low else "confident"].append(
                (scores["beat_f"][i], scores["downbeat_f"][i]))
    print(f"\n{'echelon confidence':<20}{'tracks':>8}{'beat F':>8}{'downbeat F':>12}")
    for name, values in groups.items():
        if values:
            beat_fs, down_fs = zip(*values)
            print(f"{name:<20}{len(values):>8}{np.mean(beat_fs):>8.3f}{np.mean(down_fs):>12.3f}")
        else:
            print(f"{name:<20}{0:>8}{'—':>8}{'—':>12}")


def score(method, tracks) -> dict:
    """Mean beat/downbeat/section F of one method over the tracks, its worst beat F and time."""
    scores = {"beat_f": [], "downbeat_f": [], "section_f": [], "section_f3": []}
    seconds = 0.0
    for path, track in tracks:
        start = time.perf_counter()
        beats, downbeats, boundaries = method(path, track)
        seconds += time.perf_counter() - start
        if beats is not None:
            scores["beat_f"].append(beat_f(track.beats, beats))
        if downbeats is not None:
            scores["downbeat_f"].append(beat_f(track.downbeats, downbeats))
        if boundaries is not None and track.boundaries is not None:
            scores["section_f"].append(boundary_f(track.boundaries, boundaries))
            scores["section_f3"].append(boundary_f(track.boundaries, boundaries, window=3.0))
    row = {k: (float(np.mean(v)) if v else None) for k, v in scores.items()}
    worst = float(np.min(scores["beat_f"])) if scores["beat_f"] else None
    return {**row, "seconds": seconds, "worst_beat_f": worst, "per_track": scores}


@dataclass(frozen=True)
class CorpusTrack:
    """A real song with truth from its source file (../shared/eval/make_h2corpus.py)."""

    beats: np.ndarray
    downbeats: np.ndarray
    section_starts: np.ndarray | None  # phrase starts, the first one included; None: no truth
    split: str = ""  # "dev" or "held-out" where the corpus marks them (bench/make_midi_corpus.py)

    @property
    def boundaries(self) -> np.ndarray | None:
        return None if self.section_starts is None else self.section_starts[1:]


def corpus_tracks(folder: Path) -> list[tuple[Path, CorpusTrack]]:
    """OUT/tracks/*.wav and OUT/truth.json as written by make_h2corpus.py or
    bench/make_midi_corpus.py (which has no section truth)."""
    truth = json.loads((folder / "truth.json").read_text())
    return [(folder / "tracks" / name,
             CorpusTrack(np.asarray(t["beats"], float), np.asarray(t["downbeats"], float),
                         np.asarray(t["phrase_starts"], float) if "phrase_starts" in t else None,
                         t.get("split", "")))
            for name, t in sorted(truth.items())]


def generated_tracks(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix="echelon-bench-"))
    tracks = []
    for i in range(count):
        spec = random_spec(rng, offhat_intro=i % 3 != 2, drumless_break=i % 4 != 3)
        track = render(spec)
        tracks.append((write_track(track, folder / f"track_{i:02d}.wav"), track))
    return tracks


def report(title: str, tracks: list, methods: dict) -> dict:
    """One table: every method on `tracks`, time relative to madmom alone."""
    import soundfile as sf

    total_audio = sum(sf.info(str(path)).duration for path, _ in tracks)
    print(f"\n{title}: {len(tracks)} tracks, {total_audio / 60:.1f} min of audio")
    rows = {name: score(method, tracks) for name, method in methods.items()}
    madmom_time = rows["madmom DBN alone"]["seconds"]
    header = f"{'method':<20}{'beat F':>8}{'(worst)':>9}{'downbeat F':>12}{'sect F':>8}" \
             f"{'@3 s':>7}{'RTF':>8}{'time/madmom':>13}"
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        def cell(key, width, row=row):
            return f"{row[key]:>{width}.3f}" if row[key] is not None else f"{'—':>{width}}"
        print(f"{name:<20}{cell('beat_f', 8)}{cell('worst_beat_f', 9)}{cell('downbeat_f', 12)}"
              f"{cell('section_f', 8)}{cell('section_f3', 7)}"
              f"{row['seconds'] / total_audio:>8.4f}"
              f"{row['seconds'] / madmom_time:>12.2f}×")
    return rows


def per_track(tracks: list, rows: dict, names: tuple[str, ...]) -> None:
    """Beat / downbeat / section F of each track for the named methods."""
    print(f"\n{'track':<26}" + "".join(f"{n:>26}" for n in names))
    for i, (path, _) in enumerate(tracks):
        cells = []
        for name in names:
            scores = rows[name]["per_track"]
            cells.append(" / ".join(f"{scores[k][i]:.2f}" if len(scores[k]) > i else "—"
                                    for k in ("beat_f", "downbeat_f", "section_f")))
        print(f"{path.name[:25]:<26}" + "".join(f"{c:>26}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--corpus", type=Path, action="append", default=[],
                        help="also the real songs of a corpus folder (tracks/*.wav, truth.json); "
                             "repeat it for more than one")
    args = parser.parse_args()

    tracks = generated_tracks(args.tracks, args.seed)
    methods = {
        "echelon (madmom)": lambda p, t: echelon(p, AnalysisConfig()),
        "echelon (librosa)": lambda p, t: echelon(p, AnalysisConfig(beats=BeatsConfig(backend="librosa"))),
        "madmom DBN alone": lambda p, t: madmom_alone(p),
        "librosa": lambda p, t: librosa_alone(
            p, len(t.section_starts) if t.section_starts is not None else None),
        "laplacian (bars)": lambda p, t: laplacian_sections(p) if t.section_starts is not None
        else (None, None, None),
    }
    # Warm-up: model loading and numba compilation are one-off costs, not per-file ones.
    for method in methods.values():
        method(tracks[0][0], tracks[0][1])

    CONFIDENCE.clear()  # the warm-up's
    rows = report("generated house", tracks, methods)
    sets = [(tracks, rows)]
    for corpus in args.corpus:
        tracks_of_corpus = corpus_tracks(corpus)
        for split in sorted({t.split for _, t in tracks_of_corpus}):
            songs = [(p, t) for p, t in tracks_of_corpus if t.split == split]
            real = report(f"real songs ({corpus}{', ' + split if split else ''})", songs, methods)
            per_track(songs, real, ("echelon (madmom)", "madmom DBN alone"))
            sets.append((songs, real))
    confidence_split(sets)
    ours, ratio = rows["echelon (madmom)"], rows["echelon (madmom)"]["seconds"] / rows[
        "madmom DBN alone"]["seconds"]
    met = all(ours[k] >= TARGETS[k] for k in ("beat_f", "downbeat_f", "section_f")) \
        and ratio <= TARGETS["time_ratio"]
    print(f"targets on the generated set: beat F ≥ {TARGETS['beat_f']}, downbeat F ≥ "
          f"{TARGETS['downbeat_f']}, section F ≥ {TARGETS['section_f']}, time ≤ "
          f"{TARGETS['time_ratio']}× madmom — {'all met' if met else 'NOT all met'}")
    print("section F at ±0.5 s and ±3 s; librosa's sections are given the true section count "
          "(an oracle advantage); madmom has no section model and librosa no downbeat model "
          "(—); the Laplacian baseline segments on echelon's bars, its time is its own.")


if __name__ == "__main__":
    main()
