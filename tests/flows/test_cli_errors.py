"""What a machine brings (Ctrl-C, a full disk, a damaged database, a read-only home) ends a
command with one line on stderr, never a traceback or a hang."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from flows.cli.errors import one_line_errors

ROOT = Path(__file__).resolve().parents[2]


def one_line_exit(capsys, run) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        run()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("echelon: error: "), err
    return exited.value.code, err


def test_a_full_disk_is_one_line(capsys):
    def fill():
        with one_line_errors():
            raise OSError(errno.ENOSPC, "No space left on device", "/home/x/phrases.faiss")

    code, err = one_line_exit(capsys, fill)
    assert code == 1 and "phrases.faiss: the disk is full" in err


def test_a_damaged_database_is_one_line(capsys, monkeypatch, tmp_path):
    (tmp_path / "phrases.db").write_bytes(b"junk, not SQLite " * 64)
    monkeypatch.setattr(sys, "argv", ["echelon", "stats", "--home", str(tmp_path)])
    code, err = one_line_exit(capsys, main)
    assert code == 1 and "damaged" in err and "echelon rebuild" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


@contextmanager
def mounted(*args: str, target: Path) -> Iterator[Path]:
    """`mount ARGS TARGET` for the test, or a skip where this machine does not allow it."""
    target.mkdir(exist_ok=True)
    done = subprocess.run(["mount", *args, str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.decode().strip() or done.returncode}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_stats_and_search_work_in_a_read_only_home(capsys, monkeypatch, tmp_path):
    from dataclasses import replace

    from storage.db import PhraseDatabase
    from storage.records import PhraseRecord, TrackRecord
    from tasks.analysis.embedding import EMBEDDING_DIM, EMBEDDING_VERSION

    home = tmp_path / "home"
    db = PhraseDatabase.open(f"sqlite:///{home / 'phrases.db'}")
    db.start_run("r", "lib")
    vectors = np.random.default_rng(0).normal(size=(3, EMBEDDING_DIM)).astype(np.float32)
    phrases = tuple(PhraseRecord(10 + i, i, 8.0 * i, 8.0 * i + 8, 8, 0, np.ones(70, np.float32),
                                 v / np.linalg.norm(v), EMBEDDING_VERSION)
                    for i, v in enumerate(vectors))
    record = TrackRecord("/music/a.wav", "h", 1, 1, "c", "ok", duration_s=24.0, phrases=phrases)
    db.save_record(replace(record), "r")
    db.engine.dispose()
    (home / "phrases.faiss").write_bytes(b"stale")  # and the index must be rebuilt
    with mounted("--bind", str(home), target=tmp_path / "ro") as ro:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)]).returncode != 0:
            pytest.skip("cannot remount read-only here")
        for args in (["stats", "--json"], ["search", "--phrase", "10", "-k", "2", "--json"]):
            monkeypatch.setattr(sys, "argv", ["echelon", *args, "--home", str(ro)])
            with pytest.raises(SystemExit) as exited:
                main()
            out = capsys.readouterr()
            assert exited.value.code in (0, None), out.err
            assert json.loads(out.out.strip().splitlines()[-1])


def test_a_full_disk_while_writing_is_one_line(capsys, monkeypatch, tmp_path, data_dir):
    with mounted("-t", "tmpfs", "-o", "size=16k", "tmpfs", target=tmp_path / "full") as full:
        monkeypatch.setattr(sys, "argv", ["echelon", "analyze", str(data_dir / "sample.wav"),
                                          "--plot", str(full / "plot.png")])
        code, err = one_line_exit(capsys, main)
    assert code == 1 and "the disk is full" in err


@pytest.mark.timeout(120)
def test_ctrl_c_on_a_rebuild_stops_it_in_one_line(tmp_path):
    """The terminal's SIGINT reaches the whole process group: Prefect's temporary server
    must outlive it long enough for the run to end, instead of the run retrying forever."""
    from synthetic.tracks import SectionSpec, TrackSpec, render, write_track

    library = tmp_path / "library"
    library.mkdir()
    for i in range(2):
        spec = TrackSpec(bpm=120.0 + i, seed=i, sections=(SectionSpec("groove", 4),))
        write_track(render(spec), library / f"t{i}.wav")
    servers_before = _temporary_servers()
    command = [sys.executable, "-c", "from flows.cli import main; main()", "rebuild",
               "--library", str(library), "--home", str(tmp_path / "home"), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = []
        for line in process.stderr:  # wait until the run has planned its work
            lines.append(line)
            if "to analyse" in line:
                break
        os.killpg(process.pid, signal.SIGINT)
        start = time.monotonic()
        rest = process.stderr.read()
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert time.monotonic() - start < 30
    assert code == 130, "".join(lines) + rest
    errors = [line for line in rest.splitlines() if line.startswith("echelon: error:")]
    assert len(errors) == 1 and "interrupted" in errors[0]
    assert "Traceback" not in rest
    assert _temporary_servers() <= servers_before  # no temporary server left behind


def _temporary_servers() -> set[str]:
    found = subprocess.run(["pgrep", "-f", "prefect.server.api.server:create_app"],
                           capture_output=True, text=True)
    return set(found.stdout.split())


def test_the_temporary_server_gets_time_to_start_on_a_busy_machine():
    """Two commands started at once on a loaded machine each start a temporary server; 20 s
    (Prefect's default) was not enough there. A user's own setting still wins."""
    probe = ("import flows; from prefect.settings import "
             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as s; print(s.value())")
    env = {k: v for k, v in os.environ.items()
           if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    ours = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(ROOT)})
    theirs = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, env={**env, "PYTHONPATH": str(ROOT),
                                            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "7"})
    assert ours.stdout.strip() == "90" and theirs.stdout.strip() == "7"


def test_a_signal_whose_exception_was_swallowed_still_ends_the_command(capsys):
    """Python drops an exception raised in a finaliser ("Exception ignored in …", with a
    traceback): a Ctrl-C that lands there is delivered again and ends the command as
    interrupted, in one line, not as a success."""
    import gc
    import signal as signals

    from flows.cli.errors import _interrupt, one_line_errors

    class Finalised:
        def __del__(self):
            _interrupt(signals.SIGINT, None)  # the signal arriving while a finaliser runs

    with pytest.raises(SystemExit) as exited:
        with one_line_errors():
            Finalised()
            gc.collect()
            time.sleep(2)  # ordinary code: where the redelivered signal lands
    err = capsys.readouterr().err
    assert exited.value.code == 130 and "interrupted" in err and "Traceback" not in err, err


def test_a_signal_inside_code_that_wraps_exceptions_is_delivered_after_it(capsys):
    """pydantic-core turns an exception raised while it builds a validator into its own
    SchemaError (and the flow reports that with a traceback): a signal arriving there is
    delivered again once the code is left."""
    import signal as signals

    from flows.cli.errors import _interrupt, one_line_errors

    inside_pydantic = compile("import sys\n_interrupt(SIGINT, sys._getframe())\n",
                              "/site-packages/pydantic/_internal/fake.py", "exec")
    with pytest.raises(SystemExit) as exited:
        with one_line_errors():
            exec(inside_pydantic, {"_interrupt": _interrupt, "SIGINT": signals.SIGINT})
            time.sleep(2)  # left it: the signal is delivered here
    err = capsys.readouterr().err
    assert exited.value.code == 130 and "Traceback" not in err, err
