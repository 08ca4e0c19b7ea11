"""The dataset flow on a real PostgreSQL server (Debian's package, started here on loopback)
gives the same content as on SQLite."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import assert_same_content, database_content


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: `make setup` installs it with apt-get")
        pytest.skip("PostgreSQL is not installed (make setup installs it as root)")
    bin_dir = Path(binaries[-1]).parent
    # postgres refuses to run as root: the cluster belongs to the postgres user then
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="echelon-pg-", dir="/tmp"))
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    run = dict(check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data / "db", "-A", "trust", "-U",
                    "postgres", "--no-sync"], **run)
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data / "db", "-l", data / "log", "-w",
                    "-o", f"-h 127.0.0.1 -p {port} -k {data} -F", "start"], **run)
    try:
        subprocess.run([*as_user, bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "echelon"], **run)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/echelon"
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data / "db", "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        pid_file = data / "db" / "postmaster.pid"
        if pid_file.is_file():  # stop did not finish: end it by its process id
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)


def test_rebuild_on_postgres_equals_sqlite(prefect_harness, postgres_url, tiny_library, tmp_path):
    from flows.dataset import rebuild_flow

    on_sqlite = rebuild_flow(library=tiny_library, home=tmp_path / "sqlite")
    on_postgres = rebuild_flow(library=tiny_library, home=tmp_path / "pg", db=postgres_url)
    assert {k: v for k, v in on_postgres.items() if k != "run_id"} == \
        {k: v for k, v in on_sqlite.items() if k != "run_id"}
    assert not (tmp_path / "pg" / "phrases.db").exists()
    assert_same_content(database_content(postgres_url),
                        database_content(f"sqlite:///{tmp_path / 'sqlite' / 'phrases.db'}"))
    again = rebuild_flow(library=tiny_library, home=tmp_path / "pg", db=postgres_url)
    assert again["analyzed"] == 0 and again["skipped"] == 3  # incremental on PostgreSQL too
