"""Long audio a block at a time: decode, downmix and resample about a minute at once, so
analysis never holds the whole waveform (a DJ mix of an hour is ordinary in a house library).

Each block owns a span of the analysis-rate signal and carries `CONTEXT` samples either side,
more than the widest analysis window reaches, so per-frame results computed inside its span
equal those of the whole signal (resampling included, to float rounding). The checks of
`load_audio` (empty, truncated, NaN, too short, silent) run on the stream as it passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tasks.analysis.audio import (MIN_DURATION_S, SILENCE_PEAK, AudioNonFiniteError,
                                  AudioSilentError, AudioTooShortError, AudioTruncatedError,
                                  decode_whole, header_promises_more, read_frames_checked,
                                  resample)

FRAME_RATE = 100  # blocks and context are whole frames at 100 fps (madmom's hop)
BLOCK_FRAMES = 6000  # 60 s per block
CONTEXT_FRAMES = 20  # 0.2 s either side: > half of a 4096-sample window plus the flux lag
RESAMPLE_MARGIN_S = 0.05  # read this much more around a block before resampling it


@dataclass(frozen=True)
class Span:
    """One block of a signal of `total` samples at `rate`: it owns samples [start, stop) and
    holds them with context, chunk[i] being sample origin + i."""

    chunk: np.ndarray  # (n,) float32 mono
    origin: int
    start: int
    stop: int
    total: int
    rate: int

    @property
    def last(self) -> bool:
        return self.stop >= self.total

    def centred_frames(self, hop: int) -> tuple[int, int]:
        """[first, end) of the centred STFT frames (librosa's `center=True` layout: frame k
        centred on sample k·hop, 1 + total // hop of them) whose centres this block owns."""
        first = -(-self.start // hop)
        end = 1 + self.total // hop if self.last else -(-self.stop // hop)
        return first, end

    def at_rate(self, rate: int) -> "Span":
        """The same block resampled (its context absorbs the resampler's edges)."""
        if rate == self.rate:
            return self
        g = math.gcd(self.rate, rate)
        up, down = rate // g, self.rate // g
        if self.origin % down or self.start % down:
            raise ValueError(f"{self.rate} Hz blocks do not fall on the {rate} Hz grid")
        scale = lambda n: n * up // down  # noqa: E731 - exact on the grid
        return Span(resample(self.chunk, self.rate, rate), scale(self.origin),
                    scale(self.start), -(-self.stop * up // down), -(-self.total * up // down),
                    rate)


@dataclass(frozen=True)
class SourceInfo:
    path: str
    sample_rate: int  # of the file
    channels: int  # of the file
    n_samples: int  # at the analysis rate

    def duration_s(self, rate: int) -> float:
        return self.n_samples / rate


class AudioStream:
    """Blocks of a file at `rate`; iterate once. `info` is known before the first block."""

    def __init__(self, path: Path | str, rate: int):
        self.path = Path(path)
        self.rate = rate
        self.hop = rate // FRAME_RATE
        self._source, source_rate, channels, source_frames = _open_source(self.path)
        if source_frames / source_rate < MIN_DURATION_S:
            raise AudioTooShortError(self.path, f"{source_frames / source_rate:.2f} s of audio; "
                                                f"at least {MIN_DURATION_S:.0f} s are needed")
        n = math.ceil(source_frames * rate / source_rate)
        self.info = SourceInfo(str(self.path), source_rate, channels, n)
        self._source_frames = source_frames

    def __iter__(self) -> Iterator[Span]:
        step, context = BLOCK_FRAMES * self.hop, CONTEXT_FRAMES * self.hop
        reader = _Resampler(self._source, self.info.sample_rate, self.rate, self.path)
        n = self.info.n_samples
        for start in range(0, n, step):
            stop = min(n, start + step)
            lead = min(start, context)
            samples = reader.take(start - lead, min(n, stop + context))
            yield Span(samples, start - lead, start, stop, n, self.rate)
        reader.finish(self._source_frames)


def _open_source(path: Path):
    """(blocks of (n, C) float32 frames, sample rate, channels, frames) of the file."""
    info = read_frames_checked(path)
    if info is None:  # a format libsndfile cannot read (M4A, WMA): decoded whole, then cut
        data, rate = decode_whole(path)
        return iter([data]), rate, data.shape[1], len(data)
    if header_promises_more(info.extra_info):
        raise AudioTruncatedError(path, "file is shorter than its header says (truncated)")
    if info.frames <= 0:
        data, rate = decode_whole(path)  # streams without a frame count: read to the end
        return iter([data]), rate, data.shape[1], len(data)
    return _sndfile_blocks(path, info.samplerate), info.samplerate, info.channels, info.frames


def _sndfile_blocks(path: Path, rate: int) -> Iterator[np.ndarray]:
    with sf.SoundFile(str(path)) as handle:
        while True:
            try:
                data = handle.read(rate * 10, dtype="float32", always_2d=True)  # 10 s
            except sf.LibsndfileError as error:
                raise AudioTruncatedError(path, f"decoding stopped part-way: {error}") from error
            if not len(data):
                return
            yield data


class _Resampler:
    """Mono float32 at the analysis rate from sequential source reads, for spans whose start
    only moves forward; checks every sample for NaN and the whole for silence."""

    def __init__(self, source: Iterator[np.ndarray], source_rate: int, rate: int, path: Path):
        self.source, self.source_rate, self.rate, self.path = source, source_rate, rate, path
        g = math.gcd(source_rate, rate)
        self.src_step, self.dst_step = source_rate // g, rate // g
        self.buffer = np.zeros(0, np.float32)  # source samples from `buffer_start`
        self.buffer_start = 0
        self.read = 0  # source frames read so far
        self.peak = 0.0
        margin = math.ceil(RESAMPLE_MARGIN_S * source_rate / self.src_step)
        self.margin = margin * self.src_step if source_rate != rate else 0

    def take(self, a: int, b: int) -> np.ndarray:
        """Analysis-rate samples [a, b)."""
        if self.source_rate == self.rate:
            return self._source_span(a, b).copy()
        if a % self.dst_step:  # a rate whose grid the blocks do not meet: never for 8–192 kHz
            raise ValueError(f"block start {a} is not on the {self.dst_step}-sample grid")
        s0 = a // self.dst_step * self.src_step
        s1 = math.ceil(b * self.src_step / self.dst_step)
        lo, hi = max(0, s0 - self.margin), s1 + self.margin
        source = self._source_span(lo, hi)
        out = resample(source, self.source_rate, self.rate)
        offset = (s0 - lo) * self.dst_step // self.src_step
        part = out[offset: offset + (b - a)]
        return np.pad(part, (0, (b - a) - len(part)))  # the last samples of the file

    def _source_span(self, a: int, b: int) -> np.ndarray:
        """Source samples [a, b); what lies before `a` is never asked for again."""
        while self.read < b:
            chunk = next(self.source, None)
            if chunk is None:
                break
            mono = chunk.mean(axis=1, dtype=np.float64).astype(np.float32)
            if not np.all(np.isfinite(mono)):
                bad = int(np.count_nonzero(~np.isfinite(chunk)))
                raise AudioNonFiniteError(self.path, f"{bad} samples are NaN or infinite "
                                                     f"(from {self.read / self.source_rate:.1f} s)")
            self.peak = max(self.peak, float(np.max(np.abs(mono), initial=0.0)))
            self.buffer = np.concatenate([self.buffer, mono])
            self.read += len(chunk)
        drop = max(0, a - self.buffer_start)
        self.buffer, self.buffer_start = self.buffer[drop:], self.buffer_start + drop
        return self.buffer[a - self.buffer_start: b - self.buffer_start]

    def finish(self, expected_frames: int) -> None:
        for chunk in self.source:  # whatever the last block did not need
            self.read += len(chunk)
        if self.read < expected_frames:
            raise AudioTruncatedError(self.path, f"decoded {self.read} of {expected_frames} "
                                                 "frames the header announces")
        if self.peak < SILENCE_PEAK:
            raise AudioSilentError(self.path, "audio is silent (peak below -70 dBFS)")
