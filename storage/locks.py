"""One writer per folder: an advisory lock file, held for as long as the work runs."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock."""


@contextmanager
def folder_lock(folder: Path | str, name: str, busy_message: str) -> Iterator[None]:
    """Hold `folder/name` exclusively, whoever else (CLI, deployment, schedule) wants it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"{folder}: {busy_message}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
