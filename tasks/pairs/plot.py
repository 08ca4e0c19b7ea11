"""A picture for a person to settle a pair clock sync was unsure of: how hard the dancers
move against how loud the music is, at the offset found and at its best rival, with the
track's section changes marked. Where the two curves rise and fall together, the offset is
right; the offset then goes in the sheet's offset_s."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from storage.atomic import atomic_path
from storage.pair_manifest import MotionAudioPair
from storage.records import TrackGrid
from tasks.analysis.audio import load_audio
from tasks.config import MotionConfig
from tasks.motion.recording import load_performance
from tasks.motion.sync import SYNC_SAMPLE_RATE, motion_features

SMOOTH_S = 0.5  # both curves are averaged over this much, so beats blur and sections show


def plot_pair(pair: MotionAudioPair, rival_offset_s: float | None, grid: TrackGrid,
              motion: MotionConfig, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    performance = load_performance(pair.motion_path, motion)
    audio = load_audio(pair.audio_path, SYNC_SAMPLE_RATE)
    rate = performance.frame_rate
    window = max(1, int(SMOOTH_S * rate))
    speed = np.nanmean(motion_features(performance)[..., -1], axis=1)  # (T,) log speed
    speed = np.convolve(np.nan_to_num(speed, nan=np.nanmin(speed)), np.ones(window) / window,
                        "same")
    hop = int(SYNC_SAMPLE_RATE / rate)
    loudness = np.log(librosa.feature.rms(y=audio.samples, hop_length=hop)[0] + 1e-4)
    loudness = np.convolve(loudness, np.ones(window) / window, "same")
    audio_t = np.arange(len(loudness)) * hop / SYNC_SAMPLE_RATE

    offsets = [("offset found", pair.offset_s)]
    if rival_offset_s is not None:
        offsets.append(("its best rival", rival_offset_s))
    fig, axes = plt.subplots(len(offsets), 1, figsize=(11, 2.6 * len(offsets)), squeeze=False)
    for ax, (label, offset) in zip(axes[:, 0], offsets):
        ax.plot(audio_t, _unit(loudness), color="0.4", lw=1, label="music: loudness")
        ax.plot(performance.frame_times() + offset, _unit(speed), color="tab:red", lw=1,
                label="dancers: speed")
        for start in grid.section_starts:
            ax.axvline(start, color="tab:blue", lw=0.8, ls="--")
        ax.set_xlim(0, audio.duration_s)
        ax.set_title(f"{label}: {offset:+.2f} s", fontsize=9)
        ax.set_yticks([])
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("track time (s); dashed: section changes")
    fig.suptitle(f"{pair.pair_id} — confidence {pair.confidence or 0:.2f}", fontsize=10)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return target


def _unit(x: np.ndarray) -> np.ndarray:
    return (x - np.mean(x)) / (np.std(x) + 1e-9)
