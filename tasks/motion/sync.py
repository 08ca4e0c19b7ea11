"""Clock sync: where in the track a recording started, from the data alone.

Phones start recording when someone presses a button, not on the first beat. The offset
(audio time = recording time `t` + offset_s) is found from what is not periodic: dancers
change how they move where the music changes (a section boundary, its first beat, its end),
while what repeats every beat or bar fits a beat or a bar away about as well as in place.

1. Hypotheses: lags that put one of the clearest changes of the dancing on one of the
   music's changes, and the lags where the two novelty curves agree best overall.
2. Judge: a model of the dance (a movement repeating every bar with each section's own
   shape and level, over a slowly drifting posture; `_DanceFit`) is fitted at each
   hypothesis; the best few are searched frame by frame to a fraction of a frame.
3. Confidence: how much more of the motion the best rival leaves unexplained. Music whose
   sections repeat, a recording too short to hold a change, a dancer who does not change:
   all leave a rival about as good, and the pair is reported `low_confidence`.

The track's side comes from the phrase database (beats, bar length, section boundaries) and
from its sound (how much it changes at each boundary). `bench/pairs.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from tasks.motion.recording import Performance

# Raise it when a change here changes the offsets found: `echelon pairs` then estimates again.
SYNC_VERSION = 1
SYNC_SAMPLE_RATE = 22050  # the track is decoded at this rate for its features
SOUND_DB = 40.0  # the music plays while it is within this much of its loudest
MIN_OVERLAP_S = 20.0  # a lag must put this much of the recording over the music (or half of
#                       the shorter of the two)
PROPOSALS = 5  # lags the novelty's correlation proposes for the dance model to judge
MOTION_CHANGES = 8  # the clearest changes of the dancing, each tried on each of the music's
REFINED = 3  # hypotheses searched to a fraction of a frame
HARMONICS = 8  # of the bar's phase in the dance model: down to an eighth of a bar
DRIFT_S = 8.0  # the dance model allows the posture one more bend per DRIFT_S
MAX_DRIFT_DEGREE = 12
RIVAL_S = 0.25  # a rival closer than this to the winner is the winner
FULL_MARGIN = 0.5  # the best rival leaves this share more of the motion unexplained: sure
LOW_CONFIDENCE = 0.5  # below it an estimated offset is `low_confidence` (bench/pairs.py)


@dataclass(frozen=True)
class ClockSync:
    offset_s: float  # audio time = recording time t + offset_s
    confidence: float  # 0–1: how far the winner stands above its best rival
    rival_offset_s: float  # the best alternative more than RIVAL_S away


def motion_features(performance: Performance) -> np.ndarray:
    """(T, D, 26) per phone: how fast each of its 25 LatentState values moves, and its
    overall speed, as logs; NaN where that phone did not record. Speeds, not positions: a
    dancer's posture drifts slowly whatever the music does, how hard they move does not."""
    frames = performance.frames.astype(np.float64)  # (T, D, 25)
    velocity = np.abs(np.gradient(frames, axis=0))  # (T, D, 25)
    speed = np.linalg.norm(velocity, axis=2, keepdims=True)  # (T, D, 1)
    out = np.log(np.concatenate([velocity, speed], axis=2) + 1e-6)
    out[~performance.present] = np.nan
    return out


def audio_features(samples: np.ndarray, sample_rate: int, frame_rate: float) -> np.ndarray:
    """(F, 25) log mel bands and log RMS of the track, frame j at j / frame_rate s."""
    hop = sample_rate / frame_rate
    if abs(hop - round(hop)) > 1e-6:  # keep frames on the motion's clock exactly
        rate = int(round(frame_rate * round(sample_rate / frame_rate)))
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=rate)
        sample_rate, hop = rate, rate / frame_rate
    hop = int(round(hop))
    n_fft = 1 << int(np.ceil(np.log2(2 * hop)))  # about two frames, a power of two
    mel = librosa.feature.melspectrogram(y=samples, sr=sample_rate, n_fft=n_fft,
                                         hop_length=hop, n_mels=24, center=True)
    rms = librosa.feature.rms(y=samples, frame_length=n_fft, hop_length=hop, center=True)
    return np.log(np.concatenate([mel, rms ** 2]) + 1e-8).T


def novelty(features: np.ndarray, window: int) -> np.ndarray:
    """(T,) how much the mean of `features` (T, K) over the next `window` frames differs from
    the mean over the previous `window` (in units of each feature's spread): peaks where the
    music or the dancing changes. A window of a bar cancels what repeats every beat or bar.
    NaN where either window reaches a missing frame."""
    x = np.asarray(features, dtype=np.float64)
    finite = np.all(np.isfinite(x), axis=1)
    scale = np.nanstd(x[finite], axis=0) + 1e-6 if finite.any() else np.ones(x.shape[1])
    x = np.where(finite[:, None], x / scale, 0.0)
    total = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    good = np.concatenate([[0], np.cumsum(finite)])
    t = np.arange(len(x))
    lo, hi = t - window, t + window
    inside = (lo >= 0) & (hi <= len(x))
    lo, hi = np.clip(lo, 0, len(x)), np.clip(hi, 0, len(x))
    before = (total[t] - total[lo]) / window
    after = (total[hi] - total[t]) / window
    out = np.sqrt(np.mean((after - before) ** 2, axis=1))
    whole = inside & (good[hi] - good[lo] == hi - lo)
    return np.where(whole, out, np.nan)


def motion_novelty(performance: Performance, window: int) -> np.ndarray:
    """(T,) the novelty of each phone's motion, averaged over the phones there."""
    features = motion_features(performance)
    per_phone = np.stack([novelty(features[:, d], window) for d in range(features.shape[1])
                          if performance.present[:, d].any()], axis=1)
    counted = np.isfinite(per_phone)
    total = np.where(counted, per_phone, 0.0).sum(axis=1)
    return np.where(counted.any(axis=1), total / np.maximum(counted.sum(axis=1), 1), np.nan)


@dataclass(frozen=True)
class TrackChanges:
    """What clock sync needs of a track: where its music changes, and how much."""

    times: np.ndarray  # (n,) seconds: the first beat, section boundaries, the music's end
    weights: np.ndarray  # (n,) 0–1: how much the sound changes there (the largest is 1)
    beats: np.ndarray  # (b,) seconds
    duration_s: float
    beat_s: float
    beats_per_bar: int = 4

    @property
    def bar_s(self) -> float:
        return self.beat_s * self.beats_per_bar


def track_changes(samples: np.ndarray, sample_rate: int, beats: np.ndarray,
                  boundaries: np.ndarray, beats_per_bar: int = 4,
                  rate: float = 30.0) -> TrackChanges:
    """The changes of a track from its beat grid and sections (as the phrase database holds
    them) and its sound: the music starts with its first beat — or where the sound starts, when
    the beat tracker missed beats there (it often misses a beat on a song's very first sample)
    — and ends a beat after the last beat; each change is weighted by the novelty of the sound
    over a bar there."""
    beats = np.asarray(beats, dtype=float)
    beat_s = float(np.median(np.diff(beats)))
    duration = len(samples) / sample_rate
    features = audio_features(samples, sample_rate, rate)
    level = features[:, -1]  # log power
    audible = np.flatnonzero(level > level.max() - np.log(10.0 ** (SOUND_DB / 10)))
    first, last = beats[0], beats[-1] + beat_s
    if len(audible) and beats[0] - audible[0] / rate > beat_s / 2:
        first = audible[0] / rate  # (the end stays on the beats: a cymbal rings on for long)
    bar = max(2, int(round(beat_s * beats_per_bar * rate)))
    silence = np.repeat(features.min(axis=0, keepdims=True), bar, axis=0)
    sound = novelty(np.concatenate([silence, features, silence]), bar)
    times = np.unique(np.concatenate([[first], np.asarray(boundaries, dtype=float), [last]]))
    times = times[(times >= first) & (times <= last)]
    at = np.clip(np.round(times * rate).astype(int) + bar, 0, len(sound) - 1)
    weights = np.nan_to_num(sound[at])
    weights = weights / weights.max() if weights.max() > 0 else np.ones(len(times))
    return TrackChanges(times, weights, beats, duration, beat_s, beats_per_bar)


def estimate_offset(performance: Performance, track: TrackChanges) -> ClockSync:
    """The offset that lays the recording over the track.

    Hypotheses first: each lag that puts one of the clearest changes in how the dancers move
    (peaks of the motion's novelty over a bar) on a change of the music, and the lags where
    all of them agree best with all of the music's (a correlation at every lag at once).
    A model of the dance (`_DanceFit`) judges each roughly, searches the best few to a
    fraction of a frame, and the confidence is how much worse the best rival fits: two
    readings that fit alike (a repeating structure, a motion with no clear change) are
    reported as doubtful, never settled by chance."""
    rate = performance.frame_rate
    bar = max(2, int(round(track.bar_s * rate)))
    moves = motion_novelty(performance, bar)
    changes = change_train(track, rate, bar)  # frames from −bar
    need = min(MIN_OVERLAP_S * rate, 0.5 * min(performance.n_frames, track.duration_s * rate))
    scores, overlap = masked_correlation(moves, changes)
    lags = np.arange(-(len(moves) - 1), len(changes)) - bar  # audio frame = motion frame + lag
    usable = overlap >= max(need, 2)
    scores[~usable] = -np.inf
    steps = _best_peaks(np.nan_to_num(moves, nan=-np.inf), MOTION_CHANGES, bar)
    hypotheses = {int(round(t * rate)) - i for t in track.times for i in steps}
    hypotheses |= {int(lags[i]) for i in _best_peaks(scores, PROPOSALS, bar // 2)}
    hypotheses = [h for h in sorted(hypotheses)
                  if 0 <= h - lags[0] < len(lags) and usable[h - lags[0]]]
    if not hypotheses:
        raise ValueError("the recording and the track overlap by less than "
                         f"{need / rate:.0f} s at any offset")
    model = _DanceFit(performance, track)
    rough = sorted((min(model.misfit(h + d) for d in (-6, -3, 0, 3, 6)), h) for h in hypotheses)
    fits = sorted((model.near(h, bar / 2) for _, h in rough[:REFINED]), key=lambda f: f[1])
    lag, cost, rival = fits[0]
    rivals = [f for f in fits[1:] if abs(f[0] - lag) > RIVAL_S * rate]
    others = [f[1] for f in rivals] + [c for c, h in rough[REFINED:] if abs(h - lag) > bar / 2]
    # the classic doubt of a periodic dance: a bar or two either way
    shifted = [model.misfit(lag + k * bar) for k in (-2, -1, 1, 2)
               if 0 <= round(lag + k * bar) - lags[0] < len(lags)
               and usable[round(lag + k * bar) - lags[0]]]
    rival = min([rival] + others + shifted)
    margin = (rival - cost) / max(cost, 1e-9) if np.isfinite(rival) else FULL_MARGIN
    runner_up = rivals[0][0] if rivals else lag
    return ClockSync(offset_s=lag / rate - performance.start_s,
                     confidence=float(np.clip(margin / FULL_MARGIN, 0.0, 1.0)),
                     rival_offset_s=runner_up / rate - performance.start_s)


def _best_peaks(scores: np.ndarray, count: int, apart: int) -> list[int]:
    """Up to `count` local maxima of `scores`, best first, at least `apart` frames apart."""
    order = np.flatnonzero(_peaks(scores))
    order = order[np.argsort(-scores[order])]
    chosen: list[int] = []
    for i in order:
        if all(abs(i - j) >= apart for j in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return chosen


class _DanceFit:
    """How badly a model of the dance fits the motion when the recording sits at a lag: in
    each section (and the silences before and after the music) the dancers repeat a movement
    every bar (a Fourier series of the bar's phase, with the section's own coefficients,
    whatever their phase to the beat). The repeating part fits about equally at every lag; a
    frame of one section put in its neighbour does not, so the section changes, the first
    beat and the end place the recording to a frame. The posture's slow drift is fitted per
    section too (a polynomial in time, one degree per DRIFT_S), so nothing is smoothed
    across a section change, and each section is a small fit of its own."""

    def __init__(self, performance: Performance, track: TrackChanges):
        self.performance, self.track = performance, track
        self.times = performance.frame_times()
        self.devices = []
        for d in range(performance.frames.shape[1]):
            rows = performance.present[:, d]
            if rows.sum() > 10:
                y = performance.frames[:, d].astype(np.float64)
                y = y - y[rows].mean(axis=0)
                self.devices.append((rows, y, float(np.sum(y[rows] ** 2)) + 1e-12))
        # every lag is a whole number of frames: the model at each audio frame, made once
        rate, n = performance.frame_rate, performance.n_frames
        reach = n + int(4 * track.bar_s * rate) + 2
        self.first = -reach
        audio_frames = np.arange(-reach, int(np.ceil(track.duration_s * rate)) + reach)
        self.segment, self.waves = _dance_model(track, audio_frames / rate)

    def misfit(self, lag: float) -> float:
        """Unexplained share of the motion's variance, summed over the phones, as generalised
        cross-validation counts it: a lag that cuts the recording into more sections has
        more coefficients to fit with, and must fit better by more than they buy."""
        n, at = self.performance.n_frames, int(round(lag)) - self.first
        if 0 <= at and at + n <= len(self.segment):
            segment, waves = self.segment[at:at + n], self.waves[at:at + n]
        else:  # beyond what was made ahead: make it for this lag
            audio_t = (np.arange(n) + round(lag)) / self.performance.frame_rate
            segment, waves = _dance_model(self.track, audio_t)
        edges = np.searchsorted(segment, np.arange(len(self.track.times) + 2))  # monotonic
        total = 0.0
        for rows, y, energy in self.devices:
            left, used = 0.0, 0
            for k in range(len(self.track.times) + 1):
                part = slice(edges[k], edges[k + 1])
                inside = np.flatnonzero(rows[part]) + edges[k]
                if not len(inside):
                    continue
                playing = 0 < k < len(self.track.times)
                # a section's drift has as many bends whatever part of it the recording holds
                span = self.track.times[k] - self.track.times[k - 1] if playing else None
                x = _drift(self.times[inside], self.performance.frame_rate, span)
                if playing:  # the music plays: the bar's movement
                    x = np.concatenate([x, waves[inside]], axis=1)
                left += _residual(x, y[inside])
                used += min(x.shape)
            total += left / energy / max(1.0 - used / rows.sum(), 1e-3) ** 2
        return total

    def near(self, lag: float, search: float) -> tuple[float, float, float]:
        """The best lag within `search` frames of `lag` (to a fraction of a frame), its
        misfit, and the misfit of the best other local minimum more than RIVAL_S away (a
        beat either way, say; the slopes of the winner's own valley are no rival)."""
        rate = self.performance.frame_rate
        grid = np.arange(np.round(lag - search), np.round(lag + search) + 1, 2)
        costs = np.array([self.misfit(g) for g in grid])
        i = int(np.argmin(costs))
        close = np.array([self.misfit(grid[i] - 1), costs[i], self.misfit(grid[i] + 1)])
        j = int(np.argmin(close))
        if j != 1:  # a frame aside is better still: centre the last look on it
            centre = grid[i] + j - 1
            close = np.array([self.misfit(centre - 1), close[j], self.misfit(centre + 1)])
        else:
            centre = grid[i]
        found = float(centre + _parabolic(-close, 1))
        minima = _peaks(-costs) & (np.abs(grid - found) > RIVAL_S * rate)  # other readings
        rival = float(costs[minima].min()) if minima.any() else np.inf
        return found, float(close[1]), rival


def _residual(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of squares y (n, C) leaves after its least-squares fit on x (n, p): the normal
    equations, a thousandth of the cost of an SVD for these small fits (a whisker of ridge
    keeps a short stretch, fewer frames than columns, solvable)."""
    gram = x.T @ x
    moments = x.T @ y
    ridge = 1e-9 * (np.trace(gram) + 1.0)
    fit = np.linalg.solve(gram + ridge * np.eye(len(gram)), moments)
    return max(float(np.sum(y * y) - np.sum(fit * moments)), 0.0)


def _drift(times: np.ndarray, rate: float, span_s: float | None = None) -> np.ndarray:
    """(n, degree + 1) Legendre polynomials over a stretch of frames: a level and the
    posture's drift, two degrees per DRIFT_S of `span_s` (default: of the stretch)."""
    length = times[-1] - times[0] + 1.0 / rate
    degree = int(min(MAX_DRIFT_DEGREE, np.ceil(2 * (span_s or length) / DRIFT_S)))
    u = 2.0 * (times - times[0]) / length - 1.0
    return np.polynomial.legendre.legvander(u, degree)


def _dance_model(track: TrackChanges, audio_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At audio times `audio_t`: the segment of each frame (0: before the first beat, then
    the sections, then after the music) and (T, 2·HARMONICS) the sines and cosines of the
    bar's phase."""
    segment = np.searchsorted(track.times, audio_t, side="right")
    beats = track.beats
    phase = np.interp(audio_t, beats, np.arange(len(beats), dtype=float))
    phase = np.where(audio_t < beats[0], (audio_t - beats[0]) / track.beat_s, phase)
    phase = np.where(audio_t > beats[-1], len(beats) - 1 + (audio_t - beats[-1]) / track.beat_s,
                     phase) / track.beats_per_bar
    waves = []
    for h in range(1, HARMONICS + 1):
        waves += [np.sin(2 * np.pi * h * phase), np.cos(2 * np.pi * h * phase)]
    return segment, np.stack(waves, axis=1)


def change_train(track: TrackChanges, rate: float, window: int) -> np.ndarray:
    """(F,) what `novelty` over `window` frames would show of a motion that steps at each
    change: a triangle of half-width `window` at each, scaled by its weight; frames from
    −window to the end of the music + window (silence on both sides is part of the track)."""
    frames = np.arange(-window, int(np.ceil(track.duration_s * rate)) + window + 1)
    train = np.zeros(len(frames))
    for at, weight in zip(track.times * rate, track.weights):
        train = np.maximum(train, weight * np.clip(1 - np.abs(frames - at) / window, 0, None))
    return train


def masked_correlation(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How well x (N,) agrees with y (M,) at every lag k = −(N−1)…M−1 (x[i] meets y[i + k]),
    over the frames where both are finite; and how many frames that is.

    A correlation, but x is normalised over all of it, not only over the overlap: the
    recording is meant to lie over the music, so a lag that leaves much of its motion off
    the track pays for it, and a short overlap cannot win by chance."""
    mx, my = np.isfinite(x), np.isfinite(y)
    x = np.where(mx, x - np.mean(x[mx]) if mx.any() else 0.0, 0.0)
    y = np.where(my, y - np.mean(y[my]) if my.any() else 0.0, 0.0)
    size = 1 << int(np.ceil(np.log2(len(x) + len(y) - 1)))

    def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        full = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
        return np.concatenate([full[size - (len(x) - 1):], full[:len(y)]])

    n = np.round(corr(mx.astype(float), my.astype(float)))
    y_energy = corr(mx.astype(float), y * y)  # of y, where x meets it
    r = corr(x, y) / np.sqrt(max(float(np.sum(x * x)), 1e-12) * np.clip(y_energy, 1e-12, None))
    r[n < 2] = 0.0
    return r, n


def _peaks(scores: np.ndarray) -> np.ndarray:
    """Local maxima: a lag whose score no neighbour within 2 frames beats."""
    padded = np.pad(scores, 2, constant_values=-np.inf)
    neighbours = np.max([padded[k:k + len(scores)] for k in (0, 1, 3, 4)], axis=0)
    return np.isfinite(scores) & (scores >= neighbours)


def _parabolic(scores: np.ndarray, peak: int) -> float:
    if 0 < peak < len(scores) - 1 and np.all(np.isfinite(scores[peak - 1:peak + 2])):
        a, b, c = scores[peak - 1:peak + 2]
        denominator = a - 2 * b + c
        if denominator < 0:
            return float(np.clip(0.5 * (a - c) / denominator, -0.5, 0.5))
    return 0.0
