"""One file must not hang or sink a night: a time limit per file, and retries with backoff
for the errors a flaky share or a busy disk causes (never for bad input)."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# I/O errors that say "try again", not "this file is bad": a network share that blinked,
# a disk busy or timing out.
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT,
                              errno.ESTALE, errno.ENETDOWN, errno.ENETUNREACH,
                              errno.ECONNRESET, errno.EHOSTUNREACH, errno.EINTR})


class FileTimeout(Exception):
    """The step ran past its time limit; the thread running it is abandoned."""


def within(seconds: float | None, step: Callable[[], T]) -> T:
    """`step()`, or FileTimeout after `seconds`.

    A decoder stuck in a read cannot be interrupted from Python, so the step runs on a daemon
    thread that is left behind when it overruns: the run goes on, and the thread ends with
    the process. None means no limit (the step runs on the caller's thread)."""
    if seconds is None:
        return step()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = step()
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="echelon-file-step", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise FileTimeout(f"still running after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


# What SQLAlchemy's OperationalError says when the database, not the data, is the problem.
TRANSIENT_DATABASE = ("database is locked", "could not connect", "connection refused",
                      "server closed the connection", "connection reset")


def is_transient(error: BaseException) -> bool:
    """An I/O or database-connection error worth trying again (also when wrapped as the
    cause of another error)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS:
            return True
        if type(error).__name__ == "OperationalError" and any(
                words in str(error).lower() for words in TRANSIENT_DATABASE):
            return True
        error = error.__cause__
    return False


def with_retries(step: Callable[[], T], attempts: int = 3, first_delay_s: float = 1.0) -> T:
    """`step()`, tried again after 1 s, 2 s, … while it fails with a transient error."""
    for attempt in range(attempts):
        try:
            return step()
        except Exception as error:
            if attempt == attempts - 1 or not is_transient(error):
                raise
            time.sleep(first_delay_s * 2**attempt)
    raise AssertionError("unreachable")
