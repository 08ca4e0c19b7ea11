"""Generated performances: two phones' motion that dances to a generated track.

The motion's rhythm follows the track's beats and bars and its energy follows the track's
sections, so a pair carries information a model can learn. Phone faults are added on request:
jittered timestamps, a phone that drops out, a few NaN frames, a recording that stops early.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from storage.atomic import atomic_path
from synthetic.tracks import BEATS_PER_BAR, GeneratedTrack
from tasks.motion.recording import LATENT_DIM, Z_COLUMNS

# How much each arrangement makes a dancer move.
ENERGY = {"intro_offhats": 0.3, "intro_kick": 0.45, "build": 0.65, "groove": 0.8,
          "break": 0.2, "break_pad": 0.15, "drop": 1.0, "outro": 0.4}


@dataclass(frozen=True)
class PhoneFaults:
    jitter_s: float = 0.002  # timestamp noise (std), as phone sensor clocks have
    device1_stops_at: float | None = None  # share of the recording after which phone 1 is gone
    device1_missing: bool = False
    nan_frames: int = 0  # isolated frames of phone 0 with every value NaN
    stops_early_s: float = 0.0  # the recording ends this long before the audio


@dataclass(frozen=True)
class Dancefloor:
    """What a dancer hears: the beats, where sections start and how much each makes them move.
    A generated track gives its own (`floor_of`); a real song gives its annotations."""

    beats: np.ndarray  # (n_beats,) seconds
    section_starts: np.ndarray  # (n_sections,) seconds
    energies: np.ndarray  # (n_sections,) 0–1
    names: tuple[str, ...]  # (n_sections,) written to the recording's `section` column
    duration_s: float

    @property
    def beat_s(self) -> float:
        return float(np.median(np.diff(self.beats)))


def floor_of(track: GeneratedTrack) -> Dancefloor:
    names = tuple(s.arrangement for s in track.spec.sections)
    return Dancefloor(track.beats, track.section_starts,
                      np.array([ENERGY.get(n, 0.5) for n in names]), names,
                      track.spec.duration_s)


IDLE_ENERGY = 0.05  # how much a dancer moves while the phones record and no music plays


def dance(track: GeneratedTrack | Dancefloor, rng: np.random.Generator,
          clock_start_s: float = 100.0, sensor_rate: float = 60.0,
          faults: PhoneFaults = PhoneFaults(), record_from_s: float = 0.0,
          record_until_s: float | None = None) -> pa.Table:
    """A recording for `track`; audio time = recording time t − clock_start_s.

    The phones record from audio time `record_from_s` (negative: they started before the
    music, and the dancer stands almost still until it starts) to `record_until_s` (default:
    the end of the music, less `faults.stops_early_s`; past the end the dancer idles again)."""
    floor = track if isinstance(track, Dancefloor) else floor_of(track)
    duration = (floor.duration_s if record_until_s is None else record_until_s) \
        - faults.stops_early_s
    mixing = rng.normal(size=(LATENT_DIM, 8)) / np.sqrt(8)  # one dancer's style
    rows = []
    for device in (0, 1):
        if device == 1 and faults.device1_missing:
            continue
        end = duration
        if device == 1 and faults.device1_stops_at is not None:
            end = record_from_s + (duration - record_from_s) * faults.device1_stops_at
        grid = np.arange(record_from_s, end, 1.0 / sensor_rate)
        audio_t = np.sort(grid + rng.normal(0, faults.jitter_s, len(grid)))
        lag = 0.02 * device  # the second phone sits on the other wrist, a little behind
        style = mixing + 0.2 * device * rng.normal(size=mixing.shape) / np.sqrt(8)
        z = _latent_state(floor, audio_t - lag, style, rng, _silent(floor, grid))
        rows.append((audio_t + clock_start_s, np.full(len(audio_t), device), z,
                     _section_names(floor, audio_t)))

    t = np.concatenate([r[0] for r in rows])
    order = np.argsort(t, kind="stable")  # rows of both phones interleaved in time, as logged
    z = np.concatenate([r[2] for r in rows])[order]
    device = np.concatenate([r[1] for r in rows])[order]
    if faults.nan_frames:
        phone0 = np.flatnonzero(device == 0)
        picks = rng.choice(np.arange(10, len(phone0) - 10, 7), faults.nan_frames, replace=False)
        z[phone0[picks]] = np.nan
    columns = {"t": t[order], "device": device.astype(np.int64)}
    columns.update({name: z[:, k] for k, name in enumerate(Z_COLUMNS)})
    columns["section"] = np.concatenate([r[3] for r in rows])[order]
    return pa.table(columns)


def _latent_state(floor: Dancefloor, t: np.ndarray, style: np.ndarray,
                  rng: np.random.Generator, silent: np.ndarray) -> np.ndarray:
    """(n, 25): movements on the beat and the bar, scaled by the section's energy."""
    beat = _beat_phase(floor, t)  # beats since the first beat, fractional
    bar = beat / BEATS_PER_BAR
    energy = _section_energy(floor, t)
    basis = np.stack([np.sin(2 * np.pi * beat), np.cos(2 * np.pi * beat),
                      np.sin(np.pi * beat), np.cos(np.pi * beat),
                      np.sin(2 * np.pi * bar), np.cos(2 * np.pi * bar),
                      energy, np.sin(2 * np.pi * t / 17.0)], axis=1)  # (n, 8)
    basis[:, :6] *= (0.3 + energy)[:, None]
    if silent.any():  # no music: no beat to move to, only a little sway
        basis[silent, :6] = 0.0
        basis[silent, 6] = IDLE_ENERGY
    noise = 0.05 * rng.normal(size=(len(t), LATENT_DIM))
    return basis @ style.T + noise


def _beat_phase(floor: Dancefloor, t: np.ndarray) -> np.ndarray:
    beats = floor.beats
    period = floor.beat_s
    phase = np.interp(t, beats, np.arange(len(beats), dtype=float))
    phase = np.where(t < beats[0], (t - beats[0]) / period, phase)
    return np.where(t > beats[-1], len(beats) - 1 + (t - beats[-1]) / period, phase)


def _section_index(floor: Dancefloor, t: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(floor.section_starts, t, side="right") - 1,
                   0, len(floor.section_starts) - 1)


def _section_energy(floor: Dancefloor, t: np.ndarray) -> np.ndarray:
    return floor.energies[_section_index(floor, t)]


def _section_names(floor: Dancefloor, t: np.ndarray) -> np.ndarray:
    names = np.array(floor.names, dtype=object)
    labels = names[_section_index(floor, t)]
    labels[_silent(floor, t)] = "silence"
    return labels


def _silent(floor: Dancefloor, t: np.ndarray) -> np.ndarray:
    """Before the first beat and after the last one has rung (one beat): the dancer idles."""
    return (t < floor.beats[0]) | (t >= floor.beats[-1] + floor.beat_s)


def write_performance(table: pa.Table, path: Path | str) -> Path:
    """Parquet or CSV by suffix, written whole."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            pacsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)
    return path
