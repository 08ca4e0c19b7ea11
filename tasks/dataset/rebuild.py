"""The steps of a dataset rebuild: find audio, decide what needs analysis, analyse one file
into a record the database stores."""

from __future__ import annotations

import hashlib
import os
import stat
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from storage.records import Fingerprint, PhraseRecord, TrackRecord
from storage.stamps import content_hash
from tasks.analysis.audio import AudioError, decoder_fingerprint
from tasks.analysis.embedding import EMBEDDING_VERSION, phrase_embedding, phrase_id
from tasks.analysis.track import analyze_track
from tasks.config import AnalysisConfig
from tasks.dataset.guard import FileTimeout, with_retries, within

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".m4a"})


@dataclass(frozen=True)
class FileStat:
    path: str  # absolute; bytes that are not UTF-8 are shown as \xNN (see `name_error`)
    size: int
    mtime_ns: int
    name_error: str | None = None  # why the file cannot be opened by its stored name


@dataclass
class RebuildPlan:
    analyze: list[tuple[FileStat, str]] = field(default_factory=list)  # (file, content hash)
    skipped: list[str] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)  # path → new mtime, content unchanged
    removed: list[str] = field(default_factory=list)


def discover(library: Path | str) -> list[FileStat]:
    """Audio files under `library` (by suffix), sorted by path."""
    library = Path(library)
    if not library.is_dir():
        raise FileNotFoundError(f"{library}: library folder does not exist")
    found = []
    for path in sorted(library.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or path.name.startswith("."):
            continue
        if path.is_file():
            info = path.stat()
        elif path.is_symlink():  # dangling, or to a device: listed, so it is recorded with why
            info = path.lstat()
        else:
            continue
        # The library's own spelling of the path (not the symlink target): it is the track's name.
        name, name_error = storable_name(os.path.abspath(path))
        found.append(FileStat(name, info.st_size, info.st_mtime_ns, name_error))
    return found


def storable_name(path: str) -> tuple[str, str | None]:
    """The path as the database can store it, and why it cannot be opened by that name.

    A name that is not valid UTF-8 (a Latin-1 name from an old drive) cannot be stored as
    text; it is recorded under a readable spelling, as a failure that says how to fix it,
    instead of stopping the whole run."""
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return shown, ("the file name is not valid UTF-8; rename it "
                       "(e.g. `convmv -f latin1 -t utf8 --notest FILE`)")


# Raise it when a change to the analysis code changes what it finds for the same file and
# config, so the nightly rebuild redoes the library with it. 2: bar-line votes by contrast, the
# kick in the beat phase, beat and downbeat confidences. 3: the swing rule, a song's first beat
# at 0 s kept, chroma at concert pitch. 4: the start prior on the bar phase, doubling on the
# beat network's evidence, sections snapped to the 4-bar phrase grid. 5: swing support averaged
# over the votes; the beat level from the 4/4 bar (doubled where it cannot tell beat 1 from 3,
# halved where alternate bars differ), never doubled on a swung 8th. 6: fast songs tracked over
# the whole tempo range where the tracker's own slipped to a half, a third or two thirds.
# 7: the bar evidence halves the beat level only to within the tracker's range.
METHOD_VERSION = 7


def config_hash(config: AnalysisConfig) -> str:
    """Changes whenever an analysis parameter or the analysis method changes, so the tracks
    it affects are redone."""
    return hashlib.sha256(f"method {METHOD_VERSION}\n{config.model_dump_json()}".encode()
                          ).hexdigest()[:16]


# Failures that say nothing about the file itself: tried again on every run.
RETRIED_EVERY_RUN = frozenset({"unreadable"})


def plan_rebuild(files: list[FileStat], stored: dict[str, Fingerprint],
                 analysis_config_hash: str, decoders: str | None = None) -> RebuildPlan:
    """Size and mtime first; the content is hashed only for files whose size or mtime moved.

    A failure is cached like a result, except one the machine caused: an unreadable file is
    tried again every run, and every failed file is tried again once the decoders changed
    (`decoders`: see `tasks.analysis.audio.decoder_fingerprint`), so an MP3 refused before
    ffmpeg was installed is analysed after."""
    plan = RebuildPlan()
    present = set()
    for f in files:
        present.add(f.path)
        known = stored.get(f.path)
        same_config = (known is not None and known.config_hash == analysis_config_hash
                       and not _worth_retrying(known, decoders))
        if same_config and (known.size, known.mtime_ns) == (f.size, f.mtime_ns):
            plan.skipped.append(f.path)
            continue
        digest = _content_digest(f)
        if same_config and known.content_hash == digest:
            plan.skipped.append(f.path)
            plan.touched[f.path] = f.mtime_ns
            continue
        plan.analyze.append((f, digest))
    plan.removed = sorted(set(stored) - present)
    return plan


def _worth_retrying(known: Fingerprint, decoders: str | None) -> bool:
    if known.status != "failed":
        return False
    return known.reason in RETRIED_EVERY_RUN or (decoders is not None
                                                 and known.decoders != decoders)


def _content_digest(f: FileStat) -> str:
    if f.name_error:
        return "bad_name"
    try:  # a link to a device or a pipe would be read forever: only files are hashed
        return content_hash(f.path) if stat.S_ISREG(os.stat(f.path).st_mode) else "unreadable"
    except OSError:
        return "unreadable"  # analysis will record why


def analyze_file(file: FileStat, digest: str, config: AnalysisConfig,
                 timeout_s: float | None = None) -> TrackRecord:
    """Analyse one file into a record; a file that cannot be analysed becomes a failed record
    with its reason, never an exception, so the batch goes on. Transient I/O errors are tried
    again with backoff; an analysis running past `timeout_s` is a `timeout` failure."""
    base = dict(path=file.path, content_hash=digest, size=file.size, mtime_ns=file.mtime_ns,
                config_hash=config_hash(config), decoders=decoder_fingerprint())
    if file.name_error:
        return TrackRecord(**base, status="failed", error=file.name_error, reason="bad_name")
    try:
        result = with_retries(lambda: within(timeout_s, lambda: analyze_track(file.path, config)))
    except FileTimeout as error:
        return TrackRecord(**base, status="failed", error=f"analysis {error}", reason="timeout")
    except AudioError as error:
        return TrackRecord(**base, status="failed", error=error.detail, reason=error.reason)
    except Exception as error:  # a bug must not sink the nightly run: record it with its trace
        detail = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"
        return TrackRecord(**base, status="failed", error=detail, reason="internal_error")
    phrases = tuple(
        PhraseRecord(
            id=phrase_id(file.path, digest + base["config_hash"], i), index=i, start_s=p.start_s,
            end_s=p.end_s, n_bars=p.n_bars, section=p.section,
            features=result.phrase_summaries[i],
            embedding=phrase_embedding(result.features, p.start_s, p.end_s),
            embedding_version=EMBEDDING_VERSION,
        )
        for i, p in enumerate(result.phrases)
    )
    bt = result.beat_track
    return TrackRecord(**base, status="ok", duration_s=result.duration_s,
                       sample_rate=result.sample_rate, channels=result.channels,
                       tempo_bpm=result.tempo_bpm, beat_confidence=bt.beat_confidence,
                       downbeat_confidence=bt.downbeat_confidence,
                       beats_per_bar=bt.beats_per_bar, beats=bt.beats,
                       positions=bt.positions.astype(np.int8), phrases=phrases)


def analyze_chunk(items: list[tuple[FileStat, str]], config: AnalysisConfig,
                  timeout_s: float | None = None) -> list[TrackRecord]:
    """Several files in one task run: orchestration costs per task run (API calls, state
    changes), so a library of 100k files must not be 100k of them."""
    return [analyze_file(file, digest, config, timeout_s) for file, digest in items]


MAX_TASK_RUNS = 1000  # per rebuild, whatever the library's size


def chunked(items: list, chunk_size: int | None = None) -> list[list]:
    """`items` in chunks of `chunk_size`; by default as small as keeps a rebuild within
    MAX_TASK_RUNS task runs (one file per task run up to 1,000 files, 100 at 100k)."""
    if not items:
        return []
    size = chunk_size or max(1, -(-len(items) // MAX_TASK_RUNS))
    return [items[i: i + size] for i in range(0, len(items), size)]
