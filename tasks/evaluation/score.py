"""One audio file judged against one motion recording, and a folder of renders judged with
the floor (shuffled pairings) and the ceiling (the paired original audio) of every figure.

Clocks: audio time = recording time + offset. A render starts with its recording, so its
offset is −(the recording's first timestamp); a paired original track has the pair's offset."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tasks.evaluation.facts import AudioFacts
from tasks.evaluation.rhythm import (beat_align_score, beat_f_measure, motion_accents,
                                     onset_coverage_hit, tempo_following)
from tasks.motion.features import motion_tempo
from tasks.motion.recording import Performance

# The `echelon evaluate --audio … --json` contract, in order.
CONTRACT = ("tempo_audio_bpm", "tempo_motion_bpm", "tempo_follow", "beat_align", "beat_f",
            "onset_coverage", "onset_hit", "lufs", "clipping")
# Figures that have a floor and a ceiling (the level figures have neither: a loud file is not
# a better one).
JUDGED = ("tempo_follow", "beat_align", "beat_f", "onset_coverage", "onset_hit")
MOTION_BPM_RANGE = (60.0, 200.0)


@dataclass(frozen=True)
class Pairing:
    """Audio and the motion it is judged against, on one clock."""

    audio: AudioFacts
    performance: Performance
    audio_offset_s: float  # audio time = recording time + this
    reference: AudioFacts | None = None  # the audio the dancers heard, when known
    reference_offset_s: float = 0.0


def render_offset(performance: Performance) -> float:
    """A render's clock: its audio starts at the recording's first frame."""
    return -performance.start_s


def score(pairing: Pairing) -> dict:
    """Every figure of one pairing: the CONTRACT keys plus tempo_octave (a miss at another
    metrical level) and silence. NaN where a figure does not apply (no reference, no beats)."""
    audio, performance = pairing.audio, pairing.performance
    motion_bpm = motion_tempo(performance, min_bpm=MOTION_BPM_RANGE[0],
                              max_bpm=MOTION_BPM_RANGE[1])
    follow, octave = tempo_following(audio.tempo_bpm, motion_bpm)
    accents = motion_accents(performance, pairing.audio_offset_s)
    accents = accents[(accents >= 0) & (accents <= audio.duration_s)]
    coverage = hit = float("nan")
    if pairing.reference is not None:
        shift = pairing.audio_offset_s - pairing.reference_offset_s  # reference → audio clock
        coverage, hit = onset_coverage_hit(audio.onsets, pairing.reference.onsets + shift)
    return {"tempo_audio_bpm": audio.tempo_bpm, "tempo_motion_bpm": motion_bpm,
            "tempo_follow": follow, "beat_align": beat_align_score(accents, audio.beats),
            "beat_f": beat_f_measure(accents, audio.beats), "onset_coverage": coverage,
            "onset_hit": hit, "lufs": audio.lufs, "clipping": audio.clipping,
            "tempo_octave": octave, "silence": audio.silence}


def ceiling(pairing: Pairing) -> dict | None:
    """The same figures for the audio the dancers heard: what following the motion perfectly
    scores here. None without a reference."""
    if pairing.reference is None:
        return None
    return score(Pairing(pairing.reference, pairing.performance, pairing.reference_offset_s,
                         pairing.reference, pairing.reference_offset_s))


def floors(pairings: list[Pairing]) -> list[dict | None]:
    """Each render's audio against the next pairing's motion (and reference), as if it had been
    rendered from that recording: what audio that ignores the motion scores. None when there
    is only one pairing."""
    if len(pairings) < 2:
        return [None] * len(pairings)
    out = []
    for i, own in enumerate(pairings):
        other = pairings[(i + 1) % len(pairings)]
        out.append(score(Pairing(own.audio, other.performance, render_offset(other.performance),
                                 other.reference, other.reference_offset_s)))
    return out


def mean_of(rows: list[dict | None], key: str) -> float:
    values = [float(r[key]) for r in rows if r is not None and r.get(key) is not None
              and math.isfinite(float(r[key]))]
    return float(np.mean(values)) if values else float("nan")


def contract(figures: dict) -> dict:
    """The CONTRACT keys, NaN as null (JSON has no NaN)."""
    return {k: _plain(figures[k]) for k in CONTRACT}


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    value = float(value)
    return value if math.isfinite(value) else None
