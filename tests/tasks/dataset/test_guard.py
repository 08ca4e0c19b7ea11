"""A hung decode becomes a timeout failure, a blinking network share is tried again, bad
input is never retried, and a large library is few task runs."""

import errno
import os
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from tasks.config import AnalysisConfig
from tasks.dataset import guard, rebuild
from tasks.dataset.rebuild import analyze_file, chunked, discover


def _tone(path, seconds=3.0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sr)


def test_a_library_is_at_most_a_thousand_task_runs():
    assert [len(c) for c in chunked(list(range(5)))] == [1] * 5
    big = chunked(list(range(100_000)))
    assert len(big) == 1000 and sum(map(len, big)) == 100_000
    assert len(chunked(list(range(2500)))) <= 1000
    assert [len(c) for c in chunked(list(range(10)), chunk_size=4)] == [4, 4, 2]
    assert chunked([]) == []


def test_a_hung_decode_is_a_timeout_and_the_batch_goes_on(tmp_path, monkeypatch):
    _tone(tmp_path / "stuck.wav")
    [file] = discover(tmp_path)
    release = threading.Event()
    monkeypatch.setattr(rebuild, "analyze_track", lambda path, config: release.wait(30))
    start = time.monotonic()
    record = analyze_file(file, "h", AnalysisConfig(), timeout_s=0.5)
    release.set()
    assert (record.status, record.reason) == ("failed", "timeout")
    assert "0.5 s" in record.error and time.monotonic() - start < 5


def test_a_transient_io_error_is_tried_again(tmp_path, monkeypatch):
    _tone(tmp_path / "share.wav")
    [file] = discover(tmp_path)
    real_open, calls = Path.open, []

    def blink(self, *args, **kwargs):
        if self.name == "share.wav" and not calls:
            calls.append(1)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", blink)
    monkeypatch.setattr(guard.time, "sleep", lambda s: None)
    record = analyze_file(file, "h", AnalysisConfig())
    assert record.status == "ok" and calls == [1]


def test_bad_input_is_not_retried(tmp_path, monkeypatch):
    (tmp_path / "notes.wav").write_text("not audio\n" * 40)
    [file] = discover(tmp_path)
    tries = []
    real = rebuild.analyze_track
    monkeypatch.setattr(rebuild, "analyze_track",
                        lambda path, config: tries.append(1) or real(path, config))
    record = analyze_file(file, "h", AnalysisConfig())
    assert record.reason == "not_audio" and tries == [1]


def test_a_locked_database_is_transient():
    from sqlalchemy.exc import OperationalError

    locked = OperationalError("INSERT …", {}, Exception("database is locked"))
    assert guard.is_transient(locked)
    assert not guard.is_transient(OperationalError("x", {}, Exception("no such table: t")))
    assert not guard.is_transient(FileNotFoundError(errno.ENOENT, "gone"))
