"""What a machine brings (Ctrl-C, a full disk, a damaged database, a read-only home) ends a
command with one line on stderr, never a traceback or a hang."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_stats_and_search_work_in_a_read_only_home(capsys, monkeypatch, tmp_path):
    from storage.db import PhraseDatabase

    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'phrases.db'}")
    db.start_run("r", "lib")
    db.engine.dispose()
    tmp_path.chmod(0o555)
    try:
        monkeypatch.setattr(sys, "argv", ["echelon", "stats", "--home", str(tmp_path), "--json"])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code in (0, None), capsys.readouterr().err
    finally:
        tmp_path.chmod(0o755)


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
