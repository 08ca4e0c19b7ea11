"""The pictures an evaluation is judged by in the UI: tempo of audio against motion, where
the motion's accents fall against the audio's beats, and each figure between floor and
ceiling. One PNG each, written whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storage.atomic import atomic_path
from tasks.evaluation.rhythm import TEMPO_TOLERANCE, motion_accents
from tasks.evaluation.score import JUDGED, Pairing


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_tempo(rows: list[dict], target: Path) -> Path:
    """Audio tempo against motion tempo, one point per render, the ±4 % band around y = x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    motion = np.array([r["tempo_motion_bpm"] for r in rows], float)
    audio = np.array([r["tempo_audio_bpm"] for r in rows], float)
    line = np.array([60.0, 200.0])
    ax.fill_between(line, line * (1 - TEMPO_TOLERANCE), line * (1 + TEMPO_TOLERANCE),
                    color="C2", alpha=0.2, label="within 4 %")
    ax.plot(line, line, color="C2", linewidth=1)
    ax.scatter(motion, audio, color="C0", zorder=3)
    ax.set(xlabel="motion tempo (BPM)", ylabel="audio tempo (BPM)", xlim=line, ylim=line,
           title="Does the audio follow the motion's tempo?")
    ax.legend(loc="upper left")
    return _save(fig, target)


def plot_alignment(pairings: list[Pairing], target: Path, window_s: float = 0.25) -> Path:
    """Histogram of each motion accent's signed distance to the nearest audio beat (ms)."""
    plt = _pyplot()
    offsets = []
    for p in pairings:
        beats = np.sort(p.audio.beats)
        accents = motion_accents(p.performance, p.audio_offset_s)
        if len(beats) and len(accents):
            nearest = beats[np.argmin(np.abs(accents[:, None] - beats[None, :]), axis=1)]
            offsets.extend((accents - nearest)[np.abs(accents - nearest) <= window_s] * 1000)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(offsets, bins=np.linspace(-window_s * 1000, window_s * 1000, 41), color="C0")
    ax.axvline(0, color="black", linewidth=1)
    ax.set(xlabel="motion accent − nearest beat (ms)", ylabel="accents",
           title="Where the motion's accents fall against the audio's beats")
    return _save(fig, target)


def plot_floor_ceiling(summary: dict, target: Path) -> Path:
    """Each judged figure as a bar, between its floor (shuffled) and ceiling (original)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(JUDGED))
    for offset, (prefix, label, color) in zip((-0.27, 0.0, 0.27), (
            ("floor_", "floor (shuffled)", "0.7"), ("", "renders", "C0"),
            ("ceiling_", "ceiling (original)", "C2"))):
        values = [summary.get(f"{prefix}{k}", np.nan) for k in JUDGED]
        ax.bar(x + offset, np.nan_to_num(values, nan=0.0), width=0.27, label=label, color=color)
    ax.set_xticks(x, JUDGED)
    ax.set(ylim=(0, 1.05), title="Each figure between its floor and its ceiling")
    ax.legend(fontsize=8)
    return _save(fig, target)


def _save(fig, target: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return Path(target)
