"""House-like tracks with known beats, downbeats and section boundaries.

The demo, the tests and `bench/analysis.py` all need music whose ground truth is exact. Each
track is 4/4 at a constant tempo, built from sections whose arrangement differs from the
section before (that is what makes a section boundary), including the two cases that throw
a plain beat tracker: an intro with only off-beat hats and a break with no drums at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.atomic import write_wav

BEATS_PER_BAR = 4

# Arrangements by name; a section plays the parts listed here.
ARRANGEMENTS: dict[str, frozenset[str]] = {
    "intro_offhats": frozenset({"offhat"}),
    "intro_kick": frozenset({"kick", "offhat"}),
    "build": frozenset({"kick", "offhat", "clap", "bass"}),
    "groove": frozenset({"kick", "offhat", "clap", "bass", "hats16"}),
    "break": frozenset({"pad", "lead"}),
    "break_pad": frozenset({"pad"}),
    "drop": frozenset({"kick", "offhat", "clap", "bass", "hats16", "pad"}),
    "outro": frozenset({"kick", "hats16"}),
}


@dataclass(frozen=True)
class SectionSpec:
    arrangement: str
    n_bars: int


@dataclass(frozen=True)
class Patterns:
    """Where each part plays in a bar, in 16ths (0..15); the bass and lead play the chord
    tones listed (an index into the bar's chord), one per note. The defaults are the classic
    house bar every generated track plays unless it was given its own."""

    kick: tuple[int, ...] = (0, 4, 8, 12)
    clap: tuple[int, ...] = (4, 12)
    offhat: tuple[int, ...] = (2, 6, 10, 14)
    tick: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13, 15)  # quiet 16ths between the big hats
    bass: tuple[int, ...] = (2, 6, 10, 14)
    bass_tones: tuple[int, ...] = (0, 0, 0, 0)
    lead: tuple[int, ...] = (0, 8)
    lead_tones: tuple[int, ...] = (0, 1)


def random_patterns(rng: np.random.Generator) -> Patterns:
    """A bar of one's own: the four-on-the-floor kick and the backbeat stay, what happens
    around them is drawn."""
    def some(choices: tuple[int, ...], low: int, high: int) -> tuple[int, ...]:
        return tuple(sorted(int(c) for c in rng.choice(choices, int(rng.integers(low, high + 1)),
                                                       replace=False)))

    bass = some((0, 2, 3, 6, 7, 10, 11, 14), 2, 5)
    lead = some((0, 3, 6, 8, 10, 12), 2, 4)
    return Patterns(
        kick=tuple(sorted({0, 4, 8, 12} | set(some((3, 7, 11, 14, 15), 0, 1)))),
        clap=tuple(sorted({4, 12} | set(some((7, 15), 0, 1)))),
        offhat=some((2, 6, 10, 14, 7, 15), 3, 5),
        tick=some((1, 3, 5, 7, 9, 11, 13, 15), 2, 8),
        bass=bass, bass_tones=tuple(int(t) for t in rng.integers(0, 3, len(bass))),
        lead=lead, lead_tones=tuple(int(t) for t in rng.integers(0, 3, len(lead))))


@dataclass(frozen=True)
class TrackSpec:
    bpm: float
    sections: tuple[SectionSpec, ...]
    seed: int = 0
    lead_in_s: float = 0.0  # silence before the first downbeat
    sample_rate: int = 44100
    kit_seed: int | None = None  # the drum sounds' own seed: tracks that share it share a kit
    patterns: Patterns = Patterns()

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm

    @property
    def n_bars(self) -> int:
        return sum(s.n_bars for s in self.sections)

    @property
    def duration_s(self) -> float:
        # One beat of tail so the last notes ring out.
        return self.lead_in_s + (self.n_bars * BEATS_PER_BAR + 1) * self.beat_s


@dataclass(frozen=True)
class GeneratedTrack:
    spec: TrackSpec
    samples: np.ndarray  # (N,) float32 mono
    beats: np.ndarray  # (n_beats,) seconds
    downbeats: np.ndarray  # (n_bars,) seconds
    section_starts: np.ndarray  # (n_sections,) seconds, first one is the first downbeat
    section_ends: np.ndarray  # (n_sections,) seconds, end of each section's last bar

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    @property
    def boundaries(self) -> np.ndarray:
        """Inner section boundaries (the arrangement changes), seconds."""
        return self.section_starts[1:]


def random_spec(
    rng: np.random.Generator,
    bpm_range: tuple[float, float] = (95.0, 145.0),
    duration_range_s: tuple[float, float] = (60.0, 120.0),
    offhat_intro: bool | None = None,
    drumless_break: bool | None = None,
    kit_seed: int | None = None,
) -> TrackSpec:
    """A random but plausible arrangement: intro, grooves, a break, a drop, an outro. Tracks
    drawn with one `kit_seed` play the same drum sounds, each its own patterns, as the tracks
    of one producer's folder do."""
    bpm = float(rng.uniform(*bpm_range))
    bar_s = BEATS_PER_BAR * 60.0 / bpm
    lo, hi = duration_range_s
    offhat_intro = bool(rng.random() < 0.7) if offhat_intro is None else offhat_intro
    drumless_break = bool(rng.random() < 0.8) if drumless_break is None else drumless_break
    plan = ["intro_offhats" if offhat_intro else "intro_kick", "build", "groove",
            "break" if drumless_break else "build", "drop", "outro"]
    if not drumless_break:
        plan[3] = "break_pad" if rng.random() < 0.3 else "intro_kick"
    for _ in range(200):
        bars = [int(rng.choice([4, 8, 16], p=[0.25, 0.5, 0.25])) for _ in plan]
        total = sum(bars) * bar_s
        if lo <= total <= hi:
            break
        # Too long: drop a middle section; too short: it will be re-drawn.
        if total > hi and len(plan) > 4:
            plan = plan[:2] + plan[3:]
    else:
        # Nothing drawn fits a short range: the shortest arrangement, so a track asked for
        # 35 s is not 70 s long (the render that dances to it would take twice as long).
        bars = [4] * len(plan) if total > hi else bars
    sections = tuple(SectionSpec(a, b) for a, b in zip(plan, bars))
    lead_in = float(rng.uniform(0.0, 0.5))
    return TrackSpec(bpm=bpm, sections=sections, seed=int(rng.integers(2**31)), lead_in_s=lead_in,
                     kit_seed=kit_seed,
                     patterns=Patterns() if kit_seed is None else random_patterns(rng))


def render(spec: TrackSpec) -> GeneratedTrack:
    """Synthesize `spec` to audio and return it with its exact annotations."""
    rng = np.random.default_rng(spec.seed)
    sr = spec.sample_rate
    beat = spec.beat_s
    n = int(round(spec.duration_s * sr))
    out = np.zeros(n, dtype=np.float32)
    voice = _Voices(sr, rng if spec.kit_seed is None else np.random.default_rng(spec.kit_seed))
    progression = _progression(rng)
    patterns = spec.patterns

    beats, downbeats, starts, ends = [], [], [], []
    bar_index = 0
    for section in spec.sections:
        parts = ARRANGEMENTS[section.arrangement]
        starts.append(spec.lead_in_s + bar_index * BEATS_PER_BAR * beat)
        for _ in range(section.n_bars):
            bar_t = spec.lead_in_s + bar_index * BEATS_PER_BAR * beat
            chord = progression[bar_index % len(progression)]
            downbeats.append(bar_t)
            if bar_t == starts[-1] and "kick" in parts:
                voice.place(out, voice.crash, bar_t)
            if "pad" in parts:
                voice.place(out, voice.pad(chord, BEATS_PER_BAR * beat), bar_t)
            for b in range(BEATS_PER_BAR):
                t = bar_t + b * beat
                beats.append(t)
                for sixteenth, sound in _sounds(voice, patterns, parts, chord, beat, b):
                    voice.place(out, sound, t + sixteenth * beat / 4)
            bar_index += 1
        ends.append(spec.lead_in_s + bar_index * BEATS_PER_BAR * beat)

    out += rng.normal(0, 10 ** (-65 / 20), n).astype(np.float32)  # a noise floor, as a real mix has
    out *= 0.89 / max(1e-9, float(np.max(np.abs(out))))
    return GeneratedTrack(spec, out, np.array(beats), np.array(downbeats), np.array(starts),
                          np.array(ends))


def _sounds(voice: "_Voices", patterns: Patterns, parts: frozenset[str], chord: tuple[int, ...],
            beat: float, b: int):
    """(16th within beat `b`, sound) of every note that beat plays, in a fixed order."""
    for part, where, name in (("kick", patterns.kick, "kick"), ("clap", patterns.clap, "clap"),
                              ("offhat", patterns.offhat, "offhat"),
                              ("hats16", patterns.tick, "tick"), ("bass", patterns.bass, None),
                              ("lead", patterns.lead, None)):
        if part not in parts:
            continue
        for n, position in enumerate(where):
            if position // BEATS_PER_BAR != b:
                continue
            if part == "bass":
                sound = voice.bass(chord[patterns.bass_tones[n] % len(chord)], beat * 0.45)
            elif part == "lead":
                sound = voice.lead(chord[patterns.lead_tones[n] % len(chord)] + 12, beat * 1.8)
            else:
                sound = getattr(voice, name)
            yield position % BEATS_PER_BAR, sound


def write_track(track: GeneratedTrack, path: Path | str) -> Path:
    write_wav(path, track.samples, track.sample_rate)
    return Path(path)


def _progression(rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Four chords (MIDI notes), one per bar, in a random minor key: i–VI–III–VII style."""
    root = int(rng.integers(45, 52))
    degrees = [(0, 3, 7), (-4, 0, 3), (3, 7, 10), (-2, 2, 5)]
    order = rng.permutation(4) if rng.random() < 0.5 else np.arange(4)
    return [tuple(root + d for d in degrees[i]) for i in order]


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


class _Voices:
    """One-shot sounds, each with a timbre drawn once per track."""

    def __init__(self, sr: int, rng: np.random.Generator):
        self.sr = sr
        self.rng = rng
        self.kick = self._kick(float(rng.uniform(45, 60)), float(rng.uniform(0.18, 0.35)))
        self.offhat = self._noise_hit(0.09, highpass=True, level=float(rng.uniform(0.25, 0.4)))
        self.tick = self._noise_hit(0.03, highpass=True, level=0.08)
        self.clap = self._noise_hit(0.15, highpass=False, level=0.35)
        self.crash = self._noise_hit(1.6, highpass=True, level=0.3)
        self._pad_cache: dict[tuple, np.ndarray] = {}

    def place(self, out: np.ndarray, sound: np.ndarray, t: float) -> None:
        i = int(round(t * self.sr))
        if i >= len(out):
            return
        j = min(len(out), i + len(sound))
        out[i:j] += sound[: j - i]

    def _t(self, seconds: float) -> np.ndarray:
        return np.arange(int(seconds * self.sr)) / self.sr

    def _kick(self, base_hz: float, decay_s: float) -> np.ndarray:
        t = self._t(decay_s * 2.5)
        freq = base_hz + 110 * np.exp(-t / 0.03)  # the pitch drop that makes the click
        phase = 2 * np.pi * np.cumsum(freq) / self.sr
        return (0.9 * np.sin(phase) * np.exp(-t / decay_s)).astype(np.float32)

    def _noise_hit(self, decay_s: float, highpass: bool, level: float) -> np.ndarray:
        t = self._t(decay_s * 3)
        noise = self.rng.normal(0, 1, len(t))
        if highpass:
            noise = np.diff(noise, prepend=0.0)  # crude first-difference high-pass
        else:
            noise = np.convolve(noise, np.ones(8) / 8, mode="same")
        return (level * noise / 3 * np.exp(-t / decay_s)).astype(np.float32)

    def bass(self, note: int, length_s: float) -> np.ndarray:
        t = self._t(length_s)
        f = _midi_hz(note - 12)
        wave = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
        env = np.minimum(1.0, t / 0.005) * np.exp(-t / (length_s * 0.6))
        return (0.45 * wave * env).astype(np.float32)

    def pad(self, chord: tuple[int, ...], length_s: float) -> np.ndarray:
        key = (chord, round(length_s, 4))
        if key not in self._pad_cache:
            t = self._t(length_s)
            wave = np.zeros_like(t)
            for note in chord:
                f = _midi_hz(note + 12)
                for detune in (-0.004, 0.0, 0.004):
                    for h, a in ((1, 1.0), (2, 0.35), (3, 0.15)):
                        wave += a * np.sin(2 * np.pi * f * (1 + detune) * h * t)
            env = np.minimum(1.0, t / 0.04) * np.minimum(1.0, (length_s - t) / 0.05)
            self._pad_cache[key] = (0.05 * wave * env).astype(np.float32)
        return self._pad_cache[key]

    def lead(self, note: int, length_s: float) -> np.ndarray:
        t = self._t(length_s)
        f = _midi_hz(note + 12)
        wave = np.sign(np.sin(2 * np.pi * f * t)) * 0.5 + np.sin(2 * np.pi * f * t)
        env = np.minimum(1.0, t / 0.01) * np.exp(-t / (length_s * 0.5))
        return (0.12 * wave * env).astype(np.float32)
