"""Decoding: any audio file → mono float32 at the analysis rate, or a typed error saying why not.

soundfile (libsndfile) reads WAV/FLAC/OGG/AIFF; MP3/M4A and other containers fall back to
librosa's audioread path, which needs ffmpeg (or GStreamer) on the machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

MIN_DURATION_S = 2.0
# -70 dBFS peak: below this nothing in the file is music a beat tracker can hear.
SILENCE_PEAK = 10 ** (-70 / 20)


class AudioError(Exception):
    """A file that cannot be analysed. `reason` is a short machine-friendly tag."""

    reason = "audio_error"

    def __init__(self, path: Path | str, detail: str):
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")


class AudioMissingError(AudioError):
    reason = "missing"


class AudioUnreadableError(AudioError):
    """The file is there but the machine will not let us read it (permissions, I/O error):
    nothing is known about its content, so a rebuild tries it again next time."""

    reason = "unreadable"


class AudioEmptyError(AudioError):
    reason = "empty"


class NotAudioError(AudioError):
    reason = "not_audio"


class AudioTruncatedError(AudioError):
    reason = "truncated"


class AudioNonFiniteError(AudioError):
    reason = "non_finite"


class AudioTooShortError(AudioError):
    reason = "too_short"


class AudioSilentError(AudioError):
    reason = "silent"


@dataclass(frozen=True)
class Audio:
    """Decoded audio, downmixed to mono and resampled to `sample_rate`."""

    path: str
    samples: np.ndarray  # (N,) float32 mono at sample_rate
    sample_rate: int
    source_sample_rate: int
    channels: int  # channel count of the file before the downmix

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(path: Path | str, sample_rate: int = 44100) -> Audio:
    """Decode `path` to mono float32 at `sample_rate`; raise an `AudioError` subclass when it
    is missing, empty, not audio, truncated, non-finite, shorter than 2 s or silent."""
    path = Path(path)
    data, source_rate = read_frames(path)  # (N, C) float32
    if data.size == 0:
        raise AudioEmptyError(path, "file holds no audio frames")
    channels = data.shape[1]
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioNonFiniteError(path, f"{bad} samples are NaN or infinite")

    mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)  # (N,)
    duration = len(mono) / source_rate
    if duration < MIN_DURATION_S:
        raise AudioTooShortError(
            path, f"{duration:.2f} s of audio; at least {MIN_DURATION_S:.0f} s are needed"
        )
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise AudioSilentError(path, "audio is silent (peak below -70 dBFS)")

    if source_rate != sample_rate:
        mono = resample(mono, source_rate, sample_rate)
    return Audio(str(path), mono, sample_rate, source_rate, channels)


def read_frames(path: Path | str) -> tuple[np.ndarray, int]:
    """(N, C) float32 frames as the file stores them, and its sample rate; an AudioError when
    it is missing, empty, not audio or truncated."""
    path = Path(path)
    info = read_frames_checked(path)
    return _decode(path, info) if info is not None else decode_whole(path)


def read_frames_checked(path: Path) -> sf._SoundFileInfo | None:
    """libsndfile's view of a file that exists, is not empty and can be read; None when
    libsndfile cannot read its format (then `decode_whole` tries ffmpeg or GStreamer)."""
    if path.exists() and not path.is_file():
        raise NotAudioError(path, "not a regular file (a device, a pipe or a folder)")
    if not path.is_file():
        raise AudioMissingError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise AudioEmptyError(path, "file is empty (0 bytes)")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise AudioUnreadableError(path, f"cannot be read: {error.strerror or error}") from error
    try:
        return sf.info(str(path))
    except sf.LibsndfileError:
        return None


def decoder_fingerprint() -> str:
    """Which decoders this machine has: libsndfile's version and whether ffmpeg and GStreamer
    (audioread's back ends for MP3/M4A) are installed. A file refused under one set of
    decoders may decode under another."""
    import shutil

    tools = [name for name in ("ffmpeg", "gst-launch-1.0") if shutil.which(name)]
    return f"{sf.__libsndfile_version__}+{'+'.join(tools) or 'none'}"


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr, through librosa)."""
    import librosa

    out = librosa.resample(samples, orig_sr=source_rate, target_sr=target_rate, res_type="soxr_hq")
    return np.ascontiguousarray(out, dtype=np.float32)


def _decode(path: Path, info) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the file's sample rate."""
    if header_promises_more(info.extra_info):
        raise AudioTruncatedError(path, "file is shorter than its header says (truncated)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as error:
        raise AudioTruncatedError(path, f"decoding stopped part-way: {error}") from error
    if info.frames > 0 and len(data) < info.frames:
        raise AudioTruncatedError(
            path, f"decoded {len(data)} of {info.frames} frames the header announces"
        )
    return data, int(rate)


# libsndfile reports a chunk whose declared size overruns the file as "data : N (should be M)".
_SHORT_CHUNK = re.compile(r"^(data|SSND)\s*:\s*\d+\s*\(should be \d+\)", re.MULTILINE)


def header_promises_more(extra_info: str) -> bool:
    return bool(_SHORT_CHUNK.search(extra_info or ""))


_fallback_decoders: str | None = None


def decode_whole(path: Path) -> tuple[np.ndarray, int]:
    """MP3/M4A and friends through audioread; anything it cannot open is not audio."""
    import warnings

    import audioread
    import librosa

    global _fallback_decoders
    if _fallback_decoders != (current := decoder_fingerprint()):
        audioread.available_backends(flush_cache=True)  # it caches its back ends per process
        _fallback_decoders = current
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, rate = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except Exception as error:  # audioread raises a zoo of types (NoBackendError, DecodeError, EOFError)
        hint = ""
        if path.suffix.lower() in {".mp3", ".m4a", ".aac", ".mp4", ".wma", ".opus"}:
            hint = " (decoding this format needs ffmpeg on the machine)"
        raise NotAudioError(path, f"not a readable audio file{hint}: {type(error).__name__}") from error
    y = np.atleast_2d(y).T  # (N, C)
    return np.ascontiguousarray(y, dtype=np.float32), int(rate)
