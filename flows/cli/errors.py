"""What no command expects but a machine brings: Ctrl-C, a full disk, a read-only home, a
damaged database. Each ends the command with one line on stderr, never a traceback."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

INTERRUPTED = ("interrupted; everything committed before the signal is kept: run the same "
               "command again to resume")


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM. A BaseException, so no step's `except Exception` swallows it, and
    not KeyboardInterrupt, which the CLI framework would turn into a bare "Aborted!"."""


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Around the whole command line: the outcomes no command handles become one line."""
    from sqlalchemy import exc

    from storage.db import DatabaseDamaged

    previous = {signum: signal.signal(signum, _interrupt)  # a `kill` or a stopping service
                for signum in (signal.SIGINT, signal.SIGTERM)}  # count as Ctrl-C
    _received.clear()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_redeliver, previous_hook)
    shelter_temporary_server()
    try:
        yield
        if _received:  # swallowed and not redelivered in time: the signal still counts
            _exit(INTERRUPTED, 130)
    except (Interrupted, KeyboardInterrupt):
        _exit(INTERRUPTED, 130)
    except DatabaseDamaged as error:
        _exit(str(error))
    except OSError as error:
        message = describe_os_error(error)
        if message is None:  # not the machine's doing: a bug, shown with its traceback
            raise
        _exit(message)
    except exc.OperationalError as error:  # SQLite's own words for the same two cases
        text = str(error.orig)
        if "disk is full" in text or "readonly database" in text:
            _exit(f"the phrase database cannot be written: {text}; nothing committed is lost")
        raise
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def shelter_temporary_server() -> None:
    """Start Prefect's temporary API server outside our process group.

    Ctrl-C reaches every process of the terminal's foreground group: the server died first
    and the interrupted run then retried "connection refused" forever. In its own session it
    outlives the signal, takes the run's last state, and is stopped at exit; it still dies
    with us if we are killed (Linux: the parent-death signal)."""
    from prefect.server.api import server

    start = server.SubprocessASGIServer._run_uvicorn_command
    if getattr(start, "sheltered", False):
        return

    def sheltered(self):
        real = subprocess.Popen
        subprocess.Popen = functools.partial(real, preexec_fn=_own_session)
        try:
            return start(self)
        finally:
            subprocess.Popen = real

    sheltered.sheltered = True
    server.SubprocessASGIServer._run_uvicorn_command = sheltered


def _own_session() -> None:  # runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def describe_os_error(error: OSError) -> str | None:
    """One line for the errors a machine (not a bug) causes; None for the others."""
    where = f"{error.filename}: " if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}the disk is full; nothing committed is lost: free some space and run "
                "the same command again")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{where}cannot write here ({error.strerror}); choose a writable --home or fix "
                "its permissions")
    return None


def _exit(message: str, code: int = 1) -> None:
    print(f"echelon: error: {message}", file=sys.stderr)
    sys.exit(code)


_received: list[str] = []  # the signals that arrived during the command


def _redeliver(previous_hook, unraisable) -> None:
    """A signal's exception raised inside a finaliser or a weakref callback is dropped by
    Python ("Exception ignored in …", with a traceback): say nothing, and send the signal
    again a moment later, so its handler runs in ordinary code and the command stops there."""
    if isinstance(unraisable.exc_value, Interrupted):
        _send_again(getattr(signal, str(unraisable.exc_value)))
        return
    previous_hook(unraisable)


def _send_again(signum: int, after_s: float = 0.05) -> None:
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


# Code that turns any exception raised inside it into its own (pydantic-core building a
# validator wraps it in a SchemaError, which the flow then reports with a traceback): a
# signal arriving there is delivered again a moment later, up to MAX_DEFERRALS times.
_FRAGILE = ("/pydantic/", "/pydantic_core/", "<frozen abc>")
MAX_DEFERRALS = 40


def _inside_fragile_code(frame) -> bool:
    depth = 0
    while frame is not None and depth < 60:
        if any(part in frame.f_code.co_filename for part in _FRAGILE):
            return True
        frame, depth = frame.f_back, depth + 1
    return False


def _interrupt(signum, frame) -> None:
    _received.append(signal.Signals(signum).name)
    if len(_received) <= MAX_DEFERRALS and _inside_fragile_code(frame):
        _send_again(signum)
        return
    raise Interrupted(signal.Signals(signum).name)
