"""The picture a person checks an analysis by: waveform, activation, beats, sections, phrases."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storage.atomic import atomic_path
from tasks.analysis.track import TrackAnalysis


def plot_analysis(analysis: TrackAnalysis, target: Path | str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bt = analysis.beat_track
    fig, (ax_wave, ax_act) = plt.subplots(2, 1, figsize=(14, 5), sharex=True,
                                          gridspec_kw={"height_ratios": [2, 1]})
    if analysis.waveform is not None:
        wave = analysis.waveform
        t = np.arange(len(wave)) / analysis.features.sample_rate
        step = max(1, len(wave) // 20000)  # enough points for the eye, few for the file
        ax_wave.plot(t[::step], wave[::step], color="0.55", linewidth=0.4)
    for i, s in enumerate(analysis.sections):
        ax_wave.axvspan(s.start_s, s.end_s, color=f"C{i % 10}", alpha=0.12)
    for p in analysis.phrases:
        ax_wave.axvline(p.start_s, color="black", linewidth=1.2, linestyle="--")
        ax_wave.text(p.start_s, 0.95, f" {p.n_bars} bars", va="top", fontsize=7,
                     transform=ax_wave.get_xaxis_transform())
    ax_wave.set_ylabel("waveform")
    ax_wave.set_title(f"{Path(analysis.path).name} — {analysis.tempo_bpm:.1f} BPM, "
                      f"{len(analysis.sections)} sections, {len(analysis.phrases)} phrases "
                      "(dashed: phrase starts, shading: sections)")

    act = bt.activation
    ta = np.arange(len(act.beat)) / act.fps
    ax_act.plot(ta, act.beat, color="C0", linewidth=0.7, label="beat activation")
    if act.downbeat is not None:
        ax_act.plot(ta, act.downbeat, color="C3", linewidth=0.7, label="downbeat activation")
    ax_act.vlines(bt.beats, 0, 0.5, color="C0", linewidth=0.6, label="beats")
    ax_act.vlines(bt.downbeats, 0, 1.0, color="C3", linewidth=1.4, label="downbeats")
    ax_act.set_xlabel("time (s)")
    ax_act.set_ylim(0, 1.05)
    ax_act.legend(loc="upper right", fontsize=7, ncol=4)
    fig.tight_layout()
    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return target
