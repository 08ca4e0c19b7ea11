"""Beats and downbeats: activations from a backend, then a beat grid fitted to the whole track.

House and electronic tracks keep a steady tempo, so instead of trusting a frame-by-frame
decoder (madmom's DBN quantizes the beat interval to whole frames and, in an intro of
off-beat hats or a drumless break, happily walks onto the off-beat), we use the decoder only
as a seed for the tempo and fit a grid — period and phase, per stretch of constant tempo —
to the activation of the *whole* stretch. The kick-driven parts outvote the ambiguous ones,
and the grid carries the right phase through them.

The bar phase is chosen the same way, once per track: from the backend's downbeat activation
and from where harmony and arrangement change (chords and sections change on bar lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, median_filter

from tasks.analysis.features import segment_means

ACTIVATION_FPS = 100.0
# Below these a track's phrases may be misaligned: listed for a person to check by ear. On
# the Hydrogen songs the one song whose beats are wrong (heavy swing) has a beat confidence
# of 0.35, the right ones 0.52 and up; a downbeat margin under 0.2 means a second bar phase
# has nearly the same support.
LOW_BEAT_CONFIDENCE = 0.45
LOW_DOWNBEAT_CONFIDENCE = 0.2


@dataclass(frozen=True)
class BeatActivation:
    beat: np.ndarray  # (T,) probability of a beat (any position in the bar) per frame
    downbeat: np.ndarray | None  # (T,) probability of a downbeat, None when the backend has none
    fps: float


@dataclass(frozen=True)
class Seed:
    """The backend's own first tracking: beat times for the tempo and the grid's extent, and
    the meter its tracker chose (None when it has no bar model)."""

    times: np.ndarray  # (m,) seconds
    beats_per_bar: int | None = None


@dataclass(frozen=True)
class BeatTrack:
    beats: np.ndarray  # (n,) seconds
    positions: np.ndarray  # (n,) position in the bar, 1 = downbeat
    tempo_bpm: float
    activation: BeatActivation
    # 0..1: the share of the rhythmic evidence within a beat that sits on the grid's phase
    # (1: nothing else competes; low: swing, busy hats or no drums make another phase likely)
    beat_confidence: float = 0.0
    # 0..1: how far the chosen bar phase leads the next best (0: two phases equally likely)
    downbeat_confidence: float = 0.0
    beats_per_bar: int = 4  # the meter: 3 for 3/4, 4 for 4/4

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.positions == 1]


# --------------------------------------------------------------------------------------------
# The grid stage


def track_beats(
    activation: BeatActivation,
    seed: np.ndarray,  # (m,) seconds: a rough tracking used for tempo and extent only
    bar_cues: Sequence[np.ndarray] = (),  # each (D, n_frames): features whose changes mark bar lines
    feature_fps: float | None = None,
    beats_per_bar: int = 4,
    tempo_tolerance: float = 0.04,
    kick: np.ndarray | None = None,  # (n_frames,) low-band onset strength at feature_fps
    body: np.ndarray | None = None,  # (n_frames,) onset strength below the hats, at feature_fps
    bpm_range: tuple[float, float] | None = None,  # the tempi the beat level may move within
    bar_halving_min_bpm: float | None = None,  # the slowest the bar evidence alone may halve to
) -> BeatTrack:
    """Fit a piecewise-constant beat grid, choose its level (see `beat_level`) and the bar
    phase for the whole track."""
    beats, beat_confidence = grid_with_confidence(
        activation, seed, tempo_tolerance=tempo_tolerance,
        kick=(kick, feature_fps) if kick is not None and feature_fps else None)
    if body is not None and feature_fps and bpm_range is not None:
        evidence = LevelEvidence.of(beats, activation, bar_cues, feature_fps) \
            if beats_per_bar == 4 and len(beats) >= 16 else None
        beats = beat_level(beats, body, feature_fps, *bpm_range, activation=activation,
                           evidence=evidence, bar_halving_min_bpm=bar_halving_min_bpm)
    if len(beats) == 0:
        return BeatTrack(beats, np.zeros(0, int), 0.0, activation, beats_per_bar=beats_per_bar)
    evidence = bar_phase_scores(beats, activation, bar_cues, feature_fps, beats_per_bar)
    phase = int(np.argmax(evidence + start_prior(beats, activation, beats_per_bar)))
    # the confidence is the music's own lead: a phase that only the start prior chose has none
    runner_up = np.delete(evidence, phase).max() if len(evidence) > 1 else evidence[phase]
    positions = (np.arange(len(beats)) - phase) % beats_per_bar + 1
    return BeatTrack(beats, positions.astype(int), bpm_of(beats), activation, beat_confidence,
                     float(np.clip(evidence[phase] - runner_up, 0.0, 1.0)), beats_per_bar)


@dataclass(frozen=True)
class LevelEvidence:
    """The bar-line evidence (`bar_phase_scores`) that a 4/4 grid's beat level is judged by."""

    bar: np.ndarray  # (4,) per phase over one bar
    two_bars: np.ndarray  # (8,) per phase over two bars, the whole track
    two_bars_halves: tuple[np.ndarray, np.ndarray]  # (8,) each, the track's first and second half
    two_bars_network: np.ndarray  # (8,) the downbeat network's vote alone, the whole track

    @classmethod
    def of(cls, beats: np.ndarray, activation: BeatActivation, bar_cues: Sequence[np.ndarray],
           feature_fps: float) -> "LevelEvidence":
        # split on a multiple of 8 beats, so that phases counted from each half's first beat agree
        cut = max(8, (len(beats) // 2) // 8 * 8)
        first, second = (bar_phase_scores(part, activation, bar_cues, feature_fps, 8)
                         for part in (beats[:cut], beats[cut:]))
        return cls(bar_phase_scores(beats, activation, bar_cues, feature_fps, 4),
                   bar_phase_scores(beats, activation, bar_cues, feature_fps, 8), (first, second),
                   bar_phase_scores(beats, activation, (), feature_fps, 8))

    def half_bar_lead(self) -> float:
        """How far the best bar phase leads the one two beats away."""
        return _lead(self.bar, int(np.argmax(self.bar)), 2)

    def two_bar_leads(self) -> tuple[float, list[float], float]:
        """How far the best of 8 phases leads the one four beats away: over the whole track,
        in each half, and in the downbeat network alone."""
        best = int(np.argmax(self.two_bars))
        return (_lead(self.two_bars, best, 4), [_lead(h, best, 4) for h in self.two_bars_halves],
                _lead(self.two_bars_network, best, 4))


def _lead(evidence: np.ndarray, best: int, offset: int) -> float:
    return float(evidence[best] - evidence[(best + offset) % len(evidence)])


HALVE_SHARE = 0.15  # one of two alternate beats this weak against the other: it is not a beat
# Doubling needs the kit's body between the grid's beats, if lighter than on them (a snare or
# clap on 2 and 4 is lighter than a kick in the low bands; loud 16th hats alone make the
# network peak between the beats with no body there). Body alone is no evidence: a swing or
# jazz pattern puts snares and kicks between the beats, GM_kit_Jazzy 2.2× its body on them.
BODY_DOUBLE_SHARE = 0.3
# In 4/4 the bar says which level is the beat: at half tempo a "bar" of four beats holds two
# true bars, and the bar-line evidence (downbeat network, harmony, timbre, bass) cannot tell
# its beat 1 from its beat 3. The lead of the best bar phase over the one two beats away, in
# the votes' units (`bar_phase_scores`): 0.08–0.63 on the 9 development songs that the tracker
# halved (OpenTTD and Planet Blupi songs at 1.5× their tempo, Hydrogen's at 1.6×), 1.44–2.75 on
# the 9 at 85–100 BPM it had right (3 generated among them; 2 Planet Blupi songs at 96–100
# whose 8ths the network hears as loudly as their beats, which the previous rule doubled).
HALF_BAR_LEAD = 1.0
# The same at double tempo: a "bar" of four beats is half a true bar, and the evidence tells
# the bar lines of alternate "bars" apart (beat 1 from beat 3 of the true bar); each half of
# the track leans the same way by at least half that (cues that barely move have large
# contrasts by chance: equal clicks lead 1.1 over the whole track, 0.0 and 3.0 in its halves,
# one bar's fade-out doing it all). The lead of the best of 8 phases over the one four
# beats away, whole track: 1.13–3.67 on 13 of 18 development songs at 57–75 BPM read at double
# (the other 5: 0.03–0.70), at most 0.89 on the 33 read right at 118–163 BPM (generated,
# Hydrogen and MIDI dev songs, some at 1.5×).
TWO_BAR_LEAD = HALF_BAR_LEAD
# ...and the downbeat network itself leans that way: a bass line or chords that repeat every
# two bars make the cues alone tell alternate bars apart at the right tempo (a 4-note bass
# cycle: cues lead 2.2, the network 0.0). The network's own lead on the 12 of those 13 songs
# that keep it: 0.60–2.44.
TWO_BAR_NETWORK_LEAD = 0.5
# ...and only to a tempo inside the tracker's own range (`bar_halving_min_bpm`, 75 by default):
# songs at 120–170 whose chords or drums change every two bars show the same evidence as a
# slow song read at double (Freedoom's e1m6 at 120 led 1.47 with the network at 2.15, e1m2 at
# 140 2.96 with 2.00: both halved, where madmom alone is right), and real music at 120–150 is
# far more common than at 60–75. Songs at 57–72 that the tracker reads at double now stay
# there, as they do for madmom alone: 9 of the development set's tempo-scaled songs.
# ...and the network hears something halfway: at least this share of its strongest pulse
# within the beat (0.32–1.00 on those halved songs).
NETWORK_HALFWAY_SHARE = 0.25
# Without bar evidence (3/4) the network alone must peak halfway about as
# strongly as on the beat: 0.75–1.15 on Hydrogen songs rendered at 160–200 BPM, under 0.35 on
# the Hydrogen songs at their own tempi.
NETWORK_DOUBLE_SHARE = 0.75
RANGE_SLACK = 1.02  # a grid's tempo a hair above max_bpm is still max_bpm (200 BPM songs)
PULSE_STEPS = 25  # the network's pulse within a beat, sampled at 1/25 of a beat


def beat_level(beats: np.ndarray, body: np.ndarray, fps: float, min_bpm: float,
               max_bpm: float, activation: BeatActivation | None = None,
               evidence: LevelEvidence | None = None,
               bar_halving_min_bpm: float | None = None) -> np.ndarray:
    """The grid at double or half its tempo when the music says so, within [min_bpm, max_bpm].

    Trackers slip an octave: fast music (drum & bass at 174, a 200 BPM ragtime) comes out at
    half tempo, slow music with busy hats at double. Double: the body of the kit — kick, snare
    and bass, the onsets below the hats (`body`) — is between the beats too, the beat network
    (`activation`) peaks there, on the beat or halfway at its strongest (not on a swung 8th),
    and in 4/4 the bar (`evidence`, at this level) cannot tell beat 1 from beat 3. Halve: in
    4/4 the bar evidence tells alternate bars apart (over the whole track; each half and the
    downbeat network alone lean the same way) and half the tempo is at least
    `bar_halving_min_bpm` (default `min_bpm`), or at double tempo every other beat holds only
    hats, so one of the two alternate sets of beats is nearly empty of body. Hats never count,
    so 16th-note hats cannot pull the level up. A level outside the range is never chosen."""
    if len(beats) < 8:
        return beats
    period = float(np.median(np.diff(beats)))

    def strength(times: np.ndarray) -> np.ndarray:
        return peak_at(body, times, fps)

    on_beats = strength(beats)
    even, odd = on_beats[0::2].mean(), on_beats[1::2].mean()
    middles = 0.5 * (beats[:-1] + beats[1:])
    can_double = 60.0 / (period / 2) <= max_bpm * RANGE_SLACK
    # Before the no-kit test: at 190–200 BPM a kit's onsets are dense enough that its median
    # looks like a floor (Hydrogen's Diddley at 192), and without any kit the network's own
    # evidence is the best there is.
    if can_double and activation is not None \
            and strength(middles).mean() >= BODY_DOUBLE_SHARE * on_beats.mean() \
            and _network_hears_a_double(activation, beats, middles, evidence):
        return np.sort(np.concatenate([beats, middles]))
    on_the_beat = beats[0::2] if even >= odd else beats[1::2]  # where the kit's body is
    half_bpm = 60.0 / (2 * period)
    can_halve = half_bpm >= min_bpm
    if can_halve and evidence is not None and half_bpm >= (bar_halving_min_bpm or min_bpm):
        whole, halves, network = evidence.two_bar_leads()
        if whole >= TWO_BAR_LEAD and min(halves) >= TWO_BAR_LEAD / 2 \
                and network >= TWO_BAR_NETWORK_LEAD:
            return on_the_beat
    if max(even, odd) <= 2.0 * float(np.median(maximum_filter1d(body, size=5))):
        return beats  # no kit on the grid (a pad, a voice, hats alone): nothing to go by
    if can_halve and min(even, odd) <= HALVE_SHARE * max(even, odd):
        return on_the_beat
    return beats


def _network_hears_a_double(activation: BeatActivation, beats: np.ndarray,
                            middles: np.ndarray, evidence: LevelEvidence | None) -> bool:
    """The beat network's side of doubling (see `beat_level`)."""
    pulse = network_pulse(activation, beats)  # pulse[0] is the beats' own
    strongest = float(pulse.max())
    if strongest <= 0:
        return False
    # A swing's late 8th can out-peak the beat and halfway both (GM_kit_Jazzy: on the beat 0.46
    # of the swung 8th, halfway 0.35): then halfway is no beat of its own.
    at = int(np.argmax(pulse)) / PULSE_STEPS
    if min(at, abs(at - 0.5), 1.0 - at) > 2.0 / PULSE_STEPS:
        return False
    halfway = peak_at(activation.beat, middles, activation.fps).mean() / strongest
    if evidence is not None:
        return evidence.half_bar_lead() < HALF_BAR_LEAD and halfway >= NETWORK_HALFWAY_SHARE
    return halfway >= NETWORK_DOUBLE_SHARE


# A tracker held below a fast song's tempo (174 BPM drum & bass searched within 75–165) tracks
# it at half tempo, which `beat_level` doubles, or at two thirds, which no octave step mends
# (Hydrogen's demo2 at 176 BPM came out at 117). Tracking at half can also slip 3:2 for a
# stretch (demo2 at 192: its first 11 s off by 150 ms after doubling). The tracker's run over
# the music's whole range tracks such a song directly, so where it agrees with the fast tempo
# it gives the seed.
SAME_TEMPO = 0.04  # two tempi this close (relative) are one


def whole_range_could_mend(narrow: BeatTrack, tracker_max_bpm: float, max_bpm: float) -> bool:
    """Whether tracking over the music's whole range could give a better grid than `narrow`:
    it is above the tracker's range (reached by doubling), or at double tempo it would still
    be within the music's, or it may be a 3:2 slip (1.5 × its tempo is above the tracker's
    range and the network hears thirds of its beat)."""
    bpm, top = narrow.tempo_bpm, max_bpm * RANGE_SLACK
    if bpm <= 0:
        return False  # no beats: nothing to mend
    if bpm > tracker_max_bpm or 2 * bpm <= top:
        return True
    return tracker_max_bpm < 1.5 * bpm <= top and hears_thirds(narrow.activation, narrow.beats)


# The network's pulse within a beat correlates with itself a third of a beat on this much
# (relative to its variance) where the grid holds three beats per beat: 0.65–0.93 on 3:2
# slips (Hydrogen's demo2 at 176 tracked at 117, drum patterns at 170–176), at most −0.11 on
# 30 songs tracked right at 110–134 BPM (generated house, Hydrogen, OpenTTD, Planet Blupi).
THIRDS_PULSE = 0.3


def hears_thirds(activation: BeatActivation, beats: np.ndarray) -> bool:
    """Whether the network's pulse within a beat of `beats` repeats every third of a beat."""
    if len(beats) < 8:
        return False
    pulse = network_pulse(activation, beats)
    pulse = pulse - pulse.mean()
    power = float(np.dot(pulse, pulse))
    third = PULSE_STEPS // 3  # 8 and 9 steps of 25 lie either side of a third
    return power > 0 and max(float(np.dot(pulse, np.roll(pulse, k)))
                             for k in (third, third + 1)) >= THIRDS_PULSE * power


def the_better_tracking(narrow: BeatTrack, whole: BeatTrack, tracker_max_bpm: float,
                        bar_cues: Sequence[np.ndarray], feature_fps: float) -> BeatTrack:
    """Of the grid from the tracker's own range (`narrow`, after `beat_level`) and from the
    music's whole range (`whole`), the one to keep. The same tempo: `whole` where it is above
    the tracker's range (tracked directly, not through half of it). `whole` above the
    tracker's range at 1.5× or 3× `narrow`'s tempo: a 3:2 slip, perhaps then halved, is
    `narrow`'s. An octave apart in 4/4: the grid whose bar is the clearer (the larger
    `half_bar_lead`: a true bar tells its beat 1 from its beat 3; two bars or half of one
    hardly do). On development material, of 16 pairs of grids an octave apart the right one's
    lead was the larger in 14: all 10 fast songs, 0.72–4.47 against 0.07–1.28 (drum patterns
    at 170–192, OpenTTD and Planet Blupi songs at 1.35–1.5×, Hydrogen's at 1.6–1.75×), and 4
    of 6 slow ones, 1.63–1.86 against 0.36–1.65 (generated house at 96, Planet Blupi at 96,
    georgyporgy at 98). Missed: GM_kit_Jazzy's swing (0.24 against 0.96; its whole-range grid
    halves itself back to 100) and blupi_music006 (1.55 against 1.94; on its off-beat at 100
    anyway). Anything else keeps `narrow`."""
    if same_tempo(whole.tempo_bpm, narrow.tempo_bpm):
        return whole if narrow.tempo_bpm > tracker_max_bpm else narrow
    if whole.tempo_bpm > tracker_max_bpm and any(
            same_tempo(whole.tempo_bpm, k * narrow.tempo_bpm) for k in (1.5, 3.0)):
        return whole
    octave = same_tempo(whole.tempo_bpm, 2 * narrow.tempo_bpm) \
        or same_tempo(2 * whole.tempo_bpm, narrow.tempo_bpm)
    if octave and narrow.beats_per_bar == whole.beats_per_bar == 4 \
            and min(len(narrow.beats), len(whole.beats)) >= 16:
        leads = [LevelEvidence.of(t.beats, t.activation, bar_cues, feature_fps).half_bar_lead()
                 for t in (narrow, whole)]
        chosen = whole if leads[1] > leads[0] else narrow
        # two trackings an octave apart whose bars are about as clear: the level is a guess,
        # and the confidence says so (at most the margin, in the votes' units)
        return replace(chosen, beat_confidence=min(chosen.beat_confidence,
                                                   abs(leads[1] - leads[0])))
    return narrow


def same_tempo(bpm: float, other: float) -> bool:
    return other > 0 and abs(bpm / other - 1.0) <= SAME_TEMPO


def bpm_of(times: np.ndarray) -> float:
    """BPM of the median interval of beat `times`; 0 with fewer than two beats."""
    return 60.0 / float(np.median(np.diff(times))) if len(times) > 1 else 0.0


def network_pulse(activation: BeatActivation, beats: np.ndarray) -> np.ndarray:
    """(PULSE_STEPS,) the beat network's mean peak at each fraction of a beat after the grid's
    beats: its activation folded over one beat."""
    period = float(np.median(np.diff(beats)))
    return np.array([peak_at(activation.beat, beats[:-1] + f * period, activation.fps).mean()
                     for f in np.arange(PULSE_STEPS) / PULSE_STEPS])


def peak_at(signal: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """(len(times),) the strongest value of `signal` within ±2 frames of each time: onsets and
    network peaks land a frame or two off a fitted grid."""
    peak = maximum_filter1d(np.asarray(signal, dtype=np.float64), size=5)
    return peak[np.clip(np.round(np.asarray(times) * fps).astype(int), 0, len(peak) - 1)]


def fit_grid(activation: BeatActivation, seed: np.ndarray, tempo_tolerance: float = 0.04,
             min_segment_beats: int = 16,
             kick: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """Beat times on a grid of constant period per tempo segment, fitted to the activation;
    with `kick` (low-band onset strength, its frame rate) each segment's phase is then chosen
    among the activation's peaks within a beat by where the kick drum also is."""
    return grid_with_confidence(activation, seed, tempo_tolerance, min_segment_beats, kick)[0]


def grid_with_confidence(activation: BeatActivation, seed: np.ndarray,
                         tempo_tolerance: float = 0.04, min_segment_beats: int = 16,
                         kick: tuple[np.ndarray, float] | None = None,
                         ) -> tuple[np.ndarray, float]:
    """`fit_grid`'s beats and their confidence: each segment's, weighted by its beats."""
    seed = np.asarray(seed, dtype=float)
    if len(seed) < 3:
        return seed, 0.0
    fps = activation.fps
    # Smoothing makes the objective a smooth function of period and phase; peaks are 1–3 frames.
    act = gaussian_filter1d(activation.beat.astype(np.float64), sigma=1.5)
    beats = []
    segments = tempo_segments(seed, tempo_tolerance, min_segment_beats)
    # The grid reaches as far as the music does, even where the seed tracker gave up.
    heard = heard_span(act, fps)
    if heard is not None:
        first, last = heard
        s0, e0, p0 = segments[0]
        segments[0] = (min(s0, first - 0.1 * p0), e0, p0)
        s1, e1, p1 = segments[-1]  # the same segment when there is only one
        segments[-1] = (s1, max(e1, last + 0.1 * p1), p1)
    confidences = []
    pieces = [piece for segment in segments
              for piece in _steady_pieces(act, fps, seed, *segment, tempo_tolerance,
                                          min_segment_beats)]
    for start, end, times in pieces:
        confidence = 0.0
        if len(times) >= 8:
            times, confidence = _settle_phase(times, act, fps, kick, start, end)
        beats.append(times)
        confidences.append(confidence)
    weights = np.array([len(b) for b in beats], dtype=float)
    beats_all = np.concatenate(beats)
    beats_all = beats_all[not_doubled(beats_all)]
    if weights.sum() == 0:
        return beats_all, 0.0
    return beats_all, float(np.dot(weights, confidences) / weights.sum())


DRIFT_S = 0.035  # the tracker's beats this far off a constant grid: the tempo is not steady


def _steady_pieces(act: np.ndarray, fps: float, seed: np.ndarray, start: float, end: float,
                   period: float, tolerance: float, min_beats: int,
                   ) -> list[tuple[float, float, np.ndarray]]:
    """[(start, end, grid beats)]: one constant grid over the segment where the tempo holds;
    halves with their own grids (down to `min_beats` beats) where it drifts, as a live
    drummer's does. Drift shows as the tracker's beats sliding off the grid: more than a
    quarter of them over DRIFT_S away. (Beats half a period away are the tracker walking
    onto the off-beat, which the grid exists to ignore.)"""
    times = _fit_segment(act, fps, start, end, period, tolerance)
    inside = seed[(seed >= start) & (seed < end)]
    if len(inside) < 2 * min_beats or len(times) < 2:
        return [(start, end, times)]
    nearest = _distance_to_nearest(inside, times)
    kept = nearest[nearest < 0.3 * period]
    if len(kept) == 0 or np.mean(kept > DRIFT_S) <= 0.25:
        return [(start, end, times)]
    middle = float(inside[len(inside) // 2])
    halves = []
    for a, b, part in ((start, middle, inside[inside < middle]),
                       (middle, end, inside[inside >= middle])):
        local = float(np.median(np.diff(part))) if len(part) > 2 else period
        halves += _steady_pieces(act, fps, seed, a, b, local, tolerance, min_beats)
    return halves


START_SLACK_S = 0.05  # a grid beat this little before 0 s is the song's first beat


def _from_the_start(times: np.ndarray) -> np.ndarray:
    """Grid beats from the file's start on. A song that begins on its first beat at sample 0
    puts that beat a few ms before 0 s on a fitted grid; dropping it would lose the first bar,
    and with it every bar count from the start (a 4-bar intro then looks 3 bars long)."""
    times = times[times >= -START_SLACK_S]
    return np.maximum(times, 0.0)


def _distance_to_nearest(points: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(len(points),) distance of each point to the nearest of the sorted `grid` (no
    points × grid matrix: an hour's mix has thousands of each)."""
    right = np.clip(np.searchsorted(grid, points), 1, len(grid) - 1)
    return np.minimum(np.abs(points - grid[right - 1]), np.abs(points - grid[right]))


def not_doubled(times: np.ndarray) -> np.ndarray:
    """(n,) bool: False for a beat closer than half the typical gap to the one before it.
    Where two grids or two tracking windows meet, one beat can be found from both sides."""
    if len(times) < 3:
        return np.ones(len(times), bool)
    gap = float(np.median(np.diff(times)))
    return np.concatenate([[True], np.diff(times) > 0.5 * gap])


def _settle_phase(times: np.ndarray, act: np.ndarray, fps: float,
                  kick: tuple[np.ndarray, float] | None, start: float,
                  end: float) -> tuple[np.ndarray, float]:
    """The grid moved to the best-supported of the activation's peaks within one beat, and
    the confidence in it: the mean over the votes of the chosen peak's share of the vote.

    A network trained on pop peaks wherever the hi-hats are loudest: with 16th-note hats or
    heavy swing that can be an off-beat throughout. The kick drum is not fooled, so each
    candidate phase (a local maximum of the activation folded over the beat) is scored by the
    activation and by the low-band onsets at it, each relative to its mean over the candidates
    (a flat cue says nothing, a lopsided one a lot)."""
    period = float(np.median(np.diff(times)))
    shifts = np.arange(0.0, period, 0.01)
    grid = times[None, :] + shifts[:, None]  # (S, n)
    folded = np.interp(grid * fps, np.arange(len(act)), act, left=0, right=0).mean(axis=1)
    peaks = np.flatnonzero((folded >= np.roll(folded, 1)) & (folded >= np.roll(folded, -1))
                           & (folded > 0.3 * folded.max()))
    if len(peaks) < 2:
        return times, 1.0
    votes = [folded[peaks]]
    if kick is not None:
        onsets, kick_fps = kick
        votes.append(np.interp(grid[peaks] * kick_fps, np.arange(len(onsets)), onsets,
                               left=0, right=0).mean(axis=1))
    votes = [v for v in votes if v.mean() > 1e-9]
    if not votes:
        return times, 0.0
    if kick is None:  # the activation alone already placed the grid (by windows' votes)
        distance = np.minimum(shifts[peaks], period - shifts[peaks])
        best = int(np.argmin(distance))
    else:
        best = int(np.argmax(sum(v / v.mean() - 1.0 for v in votes)))
    best = _before_a_swung_eighth(best, shifts[peaks] / period, votes)
    confidence = float(np.mean([v[best] / v.sum() for v in votes]))
    shift = shifts[peaks[best]]
    if shift > period / 2:
        shift -= period  # the nearer way round
    # one more beat either side: a moved grid must still reach both ends of its segment
    moved = np.concatenate([[times[0] - period], times, [times[-1] + period]]) + shift
    return (_from_the_start(moved[(moved >= start) & (moved < end)]) if shift else times), \
        confidence


SWING_GAP = (0.58, 0.72)  # of a beat: the long half of swung 8ths, from about 3:2 to 5:2
# A beat candidate needs this share of the swung 8th's support, on average over the votes: the
# network may hear the swung 8th twice as loud as the beat where the kick is with the beat
# (GM_kit_Jazzy: 0.48 of it in the network and 0.87 in the kick in one render; each vote at
# 0.5 or more in four others).
SWING_SUPPORT = 0.5


def _before_a_swung_eighth(best: int, phases: np.ndarray, votes: list[np.ndarray]) -> int:
    """The candidate a swung 8th note belongs to, when `best` is one.

    Swing is long–short: the off-beat 8th comes late, about two thirds of a beat after the
    beat (GM_kit_Jazzy: 0.68). Where it is played louder than the beat (a ride's "spang-a-
    lang", brushed snare) a network trained on straight pop and the kick both can prefer it,
    and the grid sits on the swung 8th throughout. So when the chosen phase lies a long swing
    gap after another candidate with comparable support (on average over the votes: one may
    lean hard to the 8th), that candidate is the beat. Straight 8ths (half a beat apart) and
    16ths (a quarter) are never moved, nor are full triplets: there a third candidate sits a
    third of a beat after the would-be beat, where swing leaves the long gap empty."""
    for j, phase in enumerate(phases):
        gap = (phases[best] - phase) % 1.0
        if j == best or not SWING_GAP[0] <= gap <= SWING_GAP[1]:
            continue
        if np.mean([v[j] / v[best] for v in votes]) < SWING_SUPPORT:
            continue
        third = np.abs((phases - phase - 1.0 / 3.0 + 0.5) % 1.0 - 0.5) < 0.08
        if not third.any():
            return j
    return best


def tempo_segments(seed: np.ndarray, tolerance: float, min_beats: int) -> list[tuple[float, float, float]]:
    """Split the seed beats where the tempo changes for good: [(start_s, end_s, period_s)].

    Octave slips of the seed tracker (a stretch tracked at double or half speed) are folded
    back to the track's tempo first, so they do not count as tempo changes.
    """
    ibi = np.diff(seed)
    ref = float(np.median(ibi))
    folded = ibi * 2.0 ** np.round(np.log2(ref / ibi))
    local = median_filter(folded, size=min(9, len(folded)), mode="nearest")
    cuts = [0]
    seg_ref = float(np.median(local[: min_beats]))
    i = 1
    while i < len(local):
        off = np.abs(local[i: i + min_beats // 2] / seg_ref - 1) > tolerance
        if len(off) == min_beats // 2 and off.all() and i - cuts[-1] >= min_beats \
                and len(local) - i >= min_beats:
            cuts.append(i)
            seg_ref = float(np.median(local[i: i + min_beats]))
            i += min_beats
        else:
            i += 1
    cuts.append(len(local))
    segments = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        period = float(np.median(folded[a:b]))
        # Extent: half a beat beyond the outer seed beats, so the first and last beats count.
        start = seed[a] - (0.6 * period if a == 0 else 0.0)
        end = seed[b] + (0.6 * period if b == len(local) else 0.0)
        segments.append((start, end, period))
    return segments


def _fit_segment(act: np.ndarray, fps: float, start: float, end: float, period: float,
                 tolerance: float) -> np.ndarray:
    """Best (period, phase) by exhaustive search, coarse then fine; returns beats in [start, end)."""
    mid = 0.5 * (start + end)
    half = int(np.ceil((end - start) / period / 2)) + 1
    k = np.arange(-half, half + 1)  # beat indices around the middle of the segment

    def score(periods: np.ndarray, phases: np.ndarray) -> np.ndarray:
        # times: (P, F, K) grid positions; the score is the mean activation on the grid.
        times = mid + phases[None, :, None] + periods[:, None, None] * k[None, None, :]
        inside = (times >= start) & (times < end)
        values = np.interp(times * fps, np.arange(len(act)), act, left=0.0, right=0.0)
        return (values * inside).sum(-1) / np.maximum(inside.sum(-1), 1)

    periods = period * (1 + np.linspace(-tolerance, tolerance, 81))
    phases = np.arange(0, period, 0.01)
    best = np.unravel_index(np.argmax(score(periods, phases)), (len(periods), len(phases)))
    p0 = periods[best[0]]
    f0 = _phase_by_vote(act, fps, start, end, mid, p0, k)
    # Fine search around the coarse optimum: 1/20 of the coarse period step, 1 ms of phase.
    step = periods[1] - periods[0]
    periods = p0 + np.linspace(-step, step, 41)
    phases = f0 + np.arange(-0.02, 0.0205, 0.001)
    best = np.unravel_index(np.argmax(score(periods, phases)), (len(periods), len(phases)))
    p1, f1 = periods[best[0]], phases[best[1]]
    times = mid + f1 + p1 * k
    return _from_the_start(times[(times >= start) & (times < end)])


def _phase_by_vote(act: np.ndarray, fps: float, start: float, end: float, mid: float,
                   period: float, k: np.ndarray, window_beats: int = 16) -> float:
    """The grid phase most stretches of the track agree on.

    Each window of `window_beats` beats picks its own best phase and casts one vote. Summing
    the activation instead would let one loud stretch decide: an intro of off-beat hats can
    out-shout the kicks of the rest of the track. One vote per window means the phase that
    holds for most of the track wins.
    """
    phases = np.arange(0, period, 0.005)
    times = mid + phases[:, None] + period * k[None, :]  # (F, K)
    values = np.interp(times * fps, np.arange(len(act)), act, left=0.0, right=0.0)
    inside = (times >= start) & (times < end)
    votes = np.zeros(len(phases))
    for lo in range(0, len(k), window_beats):
        window = slice(lo, lo + window_beats)
        counted = inside[:, window].sum(axis=1)
        if counted.min() < window_beats // 2:
            continue  # a sliver at the segment's edge
        curve = (values[:, window] * inside[:, window]).sum(axis=1) / counted
        if curve.max() > 1e-6:
            votes[np.argmax(curve)] += 1.0
    if votes.max() == 0:
        curve = (values * inside).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)
        return float(phases[np.argmax(curve)])
    # Neighbouring phases (±15 ms, circular) are the same answer: pool their votes.
    spread = np.zeros(len(phases))
    for shift in range(-3, 4):
        spread += np.roll(votes, shift)
    return float(phases[np.argmax(spread)])


def bar_phase(beats: np.ndarray, activation: BeatActivation, bar_cues: Sequence[np.ndarray],
              feature_fps: float | None, beats_per_bar: int = 4) -> int:
    """Index (0..beats_per_bar-1) of the first downbeat among `beats`, chosen over the whole
    track (see `bar_phase_scores` and `start_prior`)."""
    return int(np.argmax(bar_phase_scores(beats, activation, bar_cues, feature_fps, beats_per_bar)
                         + start_prior(beats, activation, beats_per_bar)))


def bar_phase_scores(beats: np.ndarray, activation: BeatActivation,
                     bar_cues: Sequence[np.ndarray], feature_fps: float | None,
                     beats_per_bar: int = 4) -> np.ndarray:
    """(beats_per_bar,) support for each phase as the first downbeat among `beats`.

    An ensemble of votes (as in Durand et al., "Robust downbeat tracking using an ensemble of
    convolutional networks", 2017: harmony, timbre and bass each get a say): the backend's
    downbeat activation relative to its beat activation, and for each cue (chroma, timbre,
    bass, …) how much it changes across a bar line placed at that phase. Each vote counts by
    its contrast, relative to its own mean over the phases, so a vote that barely leans adds
    little and a sure one a lot: on real songs the network is sure and the arrangement hardly
    changes on bar lines; on our generated house the network cannot tell beat 1 from beat 3
    and harmony, timbre and bass all change on the bar line. (Standardizing each vote made a
    flat cue as loud as a sure network: downbeat F 0.41 against madmom's own 0.70 on the
    Hydrogen songs.)
    """
    votes = []
    if activation.downbeat is not None:
        # The strongest activation within ±2 frames of each beat; the share of it that the
        # network calls a downbeat, so that loud beats (claps on 2 and 4) do not win by volume.
        down = peak_at(activation.downbeat, beats, activation.fps)
        any_beat = peak_at(activation.beat, beats, activation.fps)
        votes.append([down[p::beats_per_bar].sum() / (any_beat[p::beats_per_bar].sum() + 1e-9)
                      for p in range(beats_per_bar)])
    if feature_fps:
        for cue in bar_cues:
            votes.append(_bar_line_novelty(beats, cue, feature_fps, beats_per_bar))
    total = np.zeros(beats_per_bar)
    for vote in votes:
        vote = np.asarray(vote, dtype=float)
        if vote.mean() > 1e-9:
            total += vote / vote.mean() - 1.0
    return total


# Music starts on a downbeat far more often than not (a DJ tool's grid starts its bar count on
# the first beat heard for that reason), so the first beat heard gets this much support in the
# units of the votes above. It decides near-ties only: halfway between the lead of the wrong
# phase at GM_kit_Jazzy's near-tie (0.43 and 0.53 in two renders: kick and ride alike on
# beats 1 and 3) and the smallest lead of the right phase over a first beat that is not a
# downbeat (0.83 and 0.85: two development songs with a pick-up).
START_VOTE = 0.65


def start_prior(beats: np.ndarray, activation: BeatActivation, beats_per_bar: int) -> np.ndarray:
    """(beats_per_bar,) START_VOTE on the phase of the beat the music starts in, 0 elsewhere:
    the last beat on or before the first sound (a quarter beat's slack), so an intro that
    opens on an off-beat hat starts in the bar of the beat before it; where that beat is
    before the grid's first (a grid that missed the intro), counted back by the period."""
    prior = np.zeros(beats_per_bar)
    heard = heard_span(activation.beat, activation.fps)
    if heard is not None and len(beats) > 1:
        period = float(np.median(np.diff(beats)))
        start = heard[0] + 0.25 * period
        first = int(np.searchsorted(beats, start, side="right")) - 1 if start >= beats[0] \
            else int(np.floor((start - beats[0]) / period))
        prior[first % beats_per_bar] = START_VOTE
    return prior


def heard_span(act: np.ndarray, fps: float) -> tuple[float, float] | None:
    """(first, last) seconds where a beat activation rises above a tenth of its loud level:
    where the music is; None for an activation that is silent throughout."""
    heard = np.flatnonzero(act > 0.1 * np.percentile(act, 99))
    if len(heard) == 0:
        return None
    return heard[0] / fps, heard[-1] / fps


def _bar_line_novelty(beats: np.ndarray, features: np.ndarray, fps: float, beats_per_bar: int) -> list[float]:
    """For each phase, the mean distance between the bar before and the bar after its bar lines."""
    frames = np.clip(np.round(beats * fps).astype(int), 0, features.shape[1] - 1)
    per_beat = segment_means(features, frames)  # (D, n-1): column j covers [beat j, beat j+1)
    n = per_beat.shape[1]
    scores = []
    for p in range(beats_per_bar):
        lines = np.arange(p, n + 1, beats_per_bar)
        lines = lines[(lines >= beats_per_bar) & (lines + beats_per_bar <= n)]
        if len(lines) == 0:
            scores.append(0.0)
            continue
        before = np.stack([per_beat[:, i - beats_per_bar: i].mean(1) for i in lines], axis=1)
        after = np.stack([per_beat[:, i: i + beats_per_bar].mean(1) for i in lines], axis=1)
        scores.append(float(np.linalg.norm(after - before, axis=0).mean()))
    return scores
