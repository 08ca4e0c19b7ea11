"""Beats and bar lines on drum patterns written out here note by note (not by synthetic/, whose
house tracks the analysis was first built on): a drummer whose tempo drifts, 16th-note hats
louder than the beat, and the steady pattern both must keep."""

import numpy as np
import soundfile as sf

from tasks.analysis.accuracy import beat_f
from tasks.analysis.beats import LOW_BEAT_CONFIDENCE
from tasks.analysis.track import analyze_track

RATE = 44100
BASS_NOTES = (55.0, 65.4, 49.0, 73.4)


def _kick(rng) -> np.ndarray:
    t = np.arange(int(0.25 * RATE)) / RATE
    return np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)


def _snare(rng) -> np.ndarray:
    n = int(0.15 * RATE)
    return 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.03 * RATE))


def _hat(rng) -> np.ndarray:
    n = int(0.05 * RATE)
    return 0.3 * np.diff(rng.standard_normal(n + 1)) * np.exp(-np.arange(n) / (0.01 * RATE))


def _place(audio: np.ndarray, sound: np.ndarray, t: float) -> None:
    i = int(t * RATE)
    if i < len(audio):
        audio[i:i + len(sound)] += sound[:len(audio) - i]


def drums(beats: np.ndarray, path, hats: str = "eighths", hat_level: float = 1.0,
          per_bar: int = 4):
    """A bass note each bar; kick on 1 (and 3 in 4/4), snare on the other beats; hats on the
    8th or 16th notes between the beats, or on swung 8ths (two thirds of a beat late).
    `beats` are the true beat times (the last one ends the song)."""
    rng = np.random.default_rng(3)
    audio = np.zeros(int((beats[-1] + 1.5) * RATE))
    for j, (t, following) in enumerate(zip(beats[:-1], beats[1:])):
        period, position = following - t, j % per_bar
        if position == 0:
            duration = min(per_bar, len(beats) - 1 - j) * period * 0.9
            tone = np.arange(int(duration * RATE)) / RATE
            _place(audio, 0.3 * np.sin(2 * np.pi * BASS_NOTES[(j // per_bar) % 4] * tone), t)
        kick = position == 0 or (per_bar == 4 and position == 2)
        _place(audio, (1.2 if position == 0 else 1.0) * (_kick(rng) if kick else _snare(rng)), t)
        offsets = {"eighths": (0.5,), "sixteenths": (0.25, 0.5, 0.75), "swung": (2 / 3,)}[hats]
        for offset in offsets:
            _place(audio, hat_level * _hat(rng), t + offset * period)
    sf.write(path, (0.8 * audio / np.abs(audio).max()).astype(np.float32), RATE)
    return path


def _scores(beats: np.ndarray, path, per_bar: int = 4) -> tuple[float, float, float]:
    found = analyze_track(path).beat_track
    assert found.beats_per_bar == per_bar
    return (beat_f(beats[:-1], found.beats), beat_f(beats[:-1][::per_bar], found.downbeats),
            found.beat_confidence)


def test_a_waltz_is_in_three(tmp_path):
    beats = 0.5 + 60 / 140 * np.arange(97)
    beat, downbeat, _ = _scores(beats, drums(beats, tmp_path / "waltz.wav", per_bar=3), 3)
    assert beat >= 0.97 and downbeat >= 0.95  # counted in four: 0.29


def test_a_drummer_drifting_from_112_to_128_bpm_keeps_beats_and_bar_lines(tmp_path):
    bpm = np.linspace(112, 128, 96)
    beats = 0.5 + np.concatenate([[0.0], np.cumsum(60 / bpm[:-1])])
    beat, downbeat, _ = _scores(beats, drums(beats, tmp_path / "drift.wav"))
    assert beat >= 0.97 and downbeat >= 0.95  # one constant grid: 0.80


def test_sixteenth_hats_louder_than_the_beat_do_not_pull_the_grid_off_it(tmp_path):
    """tutorial_georgyporgy's case: madmom's tracker follows the hats, the kick does not."""
    beats = 0.5 + 60 / 98 * np.arange(64)
    beat, downbeat, _ = _scores(beats, drums(beats, tmp_path / "hats.wav", "sixteenths", 3.0))
    assert beat >= 0.97 and downbeat >= 0.95


def test_swung_eighths_keep_beats_and_bar_lines(tmp_path):
    """Hats on the swung 8th, two thirds of a beat late, as loud as the beat. (Twice as loud,
    madmom and the grid both count the beat and the swung 8th alike, 150 BPM for 100: a tempo
    level error not solved yet; a swung 8th that wins the phase at the right tempo is moved
    back to its beat, tests/tasks/analysis/test_beats.py.)"""
    beats = 0.5 + 60 / 100 * np.arange(65)
    beat, downbeat, _ = _scores(beats, drums(beats, tmp_path / "swing.wav", "swung", 1.0))
    assert beat >= 0.97 and downbeat >= 0.95


def test_a_song_that_starts_on_its_first_beat_keeps_that_beat_and_its_first_bar(tmp_path):
    """Hydrogen renders a song from its first beat at sample 0: a fitted grid puts that beat a
    few ms before 0 s, and dropping it lost the first bar (and a 4-bar intro's boundary)."""
    beats = 60 / 115 * np.arange(49)
    found = analyze_track(drums(beats, tmp_path / "from_zero.wav")).beat_track
    assert abs(found.beats[0]) < 0.05
    assert beat_f(beats[:-1][::4], found.downbeats) >= 0.99


def test_drum_and_bass_at_174_is_not_halved_and_a_slow_groove_at_64_not_doubled(tmp_path):
    """The tracker searches 75–165 BPM and lands an octave off both (87 and 128: beat F 0.67);
    the snares between its beats, or the hats-only half of them, move the grid an octave."""
    for bpm, hats in ((174, "eighths"), (64, "sixteenths")):
        beats = 0.5 + 60 / bpm * np.arange(int(bpm / 2))
        found = analyze_track(drums(beats, tmp_path / f"{bpm}.wav", hats)).beat_track
        assert abs(found.tempo_bpm - bpm) < 1.0, (bpm, found.tempo_bpm)
        assert beat_f(beats[:-1], found.beats) >= 0.97


def test_fast_songs_the_tracker_takes_at_a_third_half_or_two_thirds_are_tracked_directly(
        tmp_path):
    """Searching 75–165 BPM, the tracker takes these at 3:2: 192 with 8th hats at 128 (then
    halved by the bar evidence to 64), 176 with loud 16th hats at 117; and 170 with swung hats
    at 85, where the bar evidence (two true bars to a "bar") does not let it double. The
    tracker over the whole 60–200 range has them right; its grid is taken (for the octave,
    because its bar is the clearer)."""
    for bpm, hats, level in ((192, "eighths", 1.0), (176, "sixteenths", 3.0),
                             (170, "swung", 1.0)):
        beats = 0.5 + 60 / bpm * np.arange(int(bpm / 2))
        found = analyze_track(drums(beats, tmp_path / f"{bpm}.wav", hats, level)).beat_track
        assert abs(found.tempo_bpm - bpm) < 1.0, (bpm, found.tempo_bpm)
        assert beat_f(beats[:-1], found.beats) >= 0.97
        assert beat_f(beats[:-1][::4], found.downbeats) >= 0.95
        if level == 1.0:  # hats 3x the beat make its phase a fair doubt (0.41)
            # measured on the fast grid itself, and (for the octave) a clear lead of its bar
            assert found.beat_confidence > LOW_BEAT_CONFIDENCE, (bpm, found.beat_confidence)


def test_a_wrong_tempo_level_is_flagged_not_passed_as_good(tmp_path):
    """At this hat level madmom's tracker takes 3 sixteenths for a beat (130.7 BPM for 98;
    halved by the level check to 65.3): a 3:2 error, not solved yet, but the track is listed
    to check by ear."""
    beats = 0.5 + 60 / 98 * np.arange(64)
    beat, _, confidence = _scores(beats, drums(beats, tmp_path / "hats.wav", "sixteenths", 1.0))
    assert beat >= 0.97 or confidence < LOW_BEAT_CONFIDENCE
