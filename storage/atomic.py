"""Files appear whole or not at all: write to a temporary sibling, then `os.replace`."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file 0600; a file created in place would follow the umask (0644
        # under the usual 022), and others on the team must read the artifacts
        os.chmod(tmp, 0o666 & ~process_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def process_umask() -> int:
    """The umask (read once: reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_partial_files(folder: Path | str) -> None:
    """Temporary files that a process killed while writing left behind (atomic_path's names)."""
    folder = Path(folder)
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp.*"):
            leftover.unlink(missing_ok=True)


def write_text(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_wav(target: Path | str, samples: np.ndarray, sample_rate: int) -> None:
    """samples: (N,) or (N, C) float in [-1, 1]; written as 16-bit PCM WAV."""
    with atomic_path(target) as tmp:
        sf.write(str(tmp), samples, sample_rate, subtype="PCM_16", format="WAV")
