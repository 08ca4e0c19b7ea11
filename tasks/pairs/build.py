"""One row of the pairing sheet → one motion-audio pair: validated, placed in time, judged.

Every problem becomes a `failed` pair with its reason (never an exception), so one bad
recording does not stop the others; an offset clock sync is unsure of becomes
`low_confidence` and is left out of training until someone sets it by hand.
"""

from __future__ import annotations

import hashlib
import traceback
from pathlib import Path

from storage.pair_manifest import MotionAudioPair
from storage.records import TrackGrid
from storage.stamps import content_hash
from tasks.analysis.audio import AudioError, load_audio
from tasks.config import MotionConfig
from tasks.motion.recording import Performance, PerformanceError, load_performance
from tasks.motion.sync import (LOW_CONFIDENCE, SYNC_SAMPLE_RATE, SYNC_VERSION, ClockSync,
                               estimate_offset, track_changes)
from tasks.pairs.sheet import SheetRow

MIN_OVERLAP_S = 5.0  # a pair whose recording covers less of its track teaches nothing
TRIM_NOTE_S = 1.0  # recording beyond the track by more than this is reported as trimmed


def file_hash(path: Path) -> str:
    """The content hash of a file, or why there is none (the fingerprint still changes when
    the file appears)."""
    try:
        return content_hash(path) if path.is_file() else "missing"
    except OSError as error:
        return f"unreadable: {error.strerror}"


def pair_fingerprint(row: SheetRow, recording_hash: str, grid: TrackGrid | None,
                     motion: MotionConfig) -> str:
    """Changes whenever anything the pair is made from changes: the recording's bytes, the
    track's content and analysis, the given offset, the motion settings, the sync method."""
    parts = (row.pair_id, str(row.recording), str(row.track), repr(row.offset_s), row.error,
             recording_hash, grid.content_hash if grid else None,
             grid.config_hash if grid else None, grid.status if grid else None,
             motion.model_dump_json(), SYNC_VERSION)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def build_pair(row: SheetRow, grid: TrackGrid | None, motion: MotionConfig,
               fingerprint: str, relative_to: Path | None = None) -> tuple[MotionAudioPair,
                                                                         ClockSync | None]:
    """The pair of `row` (and clock sync's answer, when it ran): `grid` is its track's
    analysis from the phrase database (None: not analysed). Paths inside `relative_to` are
    stored relative to it, so a home folder can move as a whole."""
    base = dict(pair_id=row.pair_id, track_id=grid.content_hash if grid else "",
                audio_path=_stored(row.track, relative_to),
                motion_path=_stored(row.recording, relative_to), offset_s=row.offset_s,
                fingerprint=fingerprint)

    def failed(reason: str) -> tuple[MotionAudioPair, None]:
        return MotionAudioPair(**base, status="failed", reason=reason), None

    problem = _missing(row, grid)
    if problem:
        return failed(problem)
    try:
        performance = load_performance(row.recording, motion)
    except PerformanceError as error:
        return failed(f"recording not usable: {error}")
    sync = None
    offset = row.offset_s
    try:
        if offset is None:
            sync = _synchronise(row.track, grid, performance)
            offset = sync.offset_s
    except AudioError as error:
        return failed(f"track not usable: {error}")
    except ValueError as error:  # no lag puts enough of the recording over the music
        return failed(f"clock sync: {error}")
    except Exception as error:  # a bug must not sink the batch: record it with its trace
        return failed(f"clock sync failed: {type(error).__name__}: {error}\n"
                      f"{traceback.format_exc(limit=3)}")
    start = max(0.0, performance.start_s + offset)
    end = min(grid.duration_s, performance.start_s + performance.duration_s + offset)
    placed = dict(base, offset_s=float(offset), estimated=sync is not None,
                  confidence=round(sync.confidence, 3) if sync else None,
                  overlap_start_s=round(start, 3), overlap_end_s=round(end, 3))
    if end - start < MIN_OVERLAP_S:
        return MotionAudioPair(**placed, status="failed", reason=(
            f"at offset {offset:+.2f} s the recording covers {max(end - start, 0):.1f} s of "
            f"its track (at least {MIN_OVERLAP_S:g} s are needed); check offset_s")), sync
    if sync is not None and sync.confidence < LOW_CONFIDENCE:
        return MotionAudioPair(**placed, status="low_confidence", reason=(
            f"clock sync is unsure (confidence {sync.confidence:.2f}): offset "
            f"{offset:+.2f} s fits about as well as {sync.rival_offset_s:+.2f} s; set "
            "offset_s in the sheet to train on this pair")), sync
    return MotionAudioPair(**placed, reason=_trimmed(performance, offset, grid)), sync


def _missing(row: SheetRow, grid: TrackGrid | None) -> str | None:
    if row.error:
        return row.error
    if not row.recording.is_file():
        return f"recording not found: {row.recording}"
    if not row.track.is_file():
        return f"track not found: {row.track}"
    if grid is None:
        return f"track not analysed: {row.track}"
    if grid.status != "ok":
        return f"track could not be analysed: {grid.error}"
    if len(grid.beats) < 4:
        return f"track has no beat grid to sync to ({len(grid.beats)} beats found)"
    return None


def _synchronise(track: Path, grid: TrackGrid, performance: Performance) -> ClockSync:
    audio = load_audio(track, SYNC_SAMPLE_RATE)
    changes = track_changes(audio.samples, audio.sample_rate, grid.beats,
                            grid.section_starts[1:], grid.beats_per_bar,
                            performance.frame_rate)
    return estimate_offset(performance, changes)


def _trimmed(performance: Performance, offset: float, grid: TrackGrid) -> str | None:
    before = -(performance.start_s + offset)
    after = performance.start_s + performance.duration_s + offset - grid.duration_s
    parts = [f"starts {before:.1f} s before the track" if before > TRIM_NOTE_S else "",
             f"runs {after:.1f} s past its end" if after > TRIM_NOTE_S else ""]
    said = " and ".join(p for p in parts if p)
    return f"trimmed to the overlap: the recording {said}" if said else None


def _stored(path: Path, relative_to: Path | None) -> str:
    if relative_to is not None:
        try:
            return str(path.relative_to(relative_to))
        except ValueError:
            pass
    return str(path)
