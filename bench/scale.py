"""Operations at catalogue scale: what orchestration costs per file, and what one machine holds.

1. A rebuild of a library of 20,000 small files against a real local Prefect server
   (`echelon server`, SQLite), with the per-file analysis replaced by a STUB (named so in the
   output: it returns an empty "ok" record at once), so what is measured is orchestration and
   storage alone: task runs created (counted by the server), API requests the flow made,
   wall time per file, the server's memory over the run. The anchor is the same rebuild with
   one task run per file (`--chunk-size 1`), as the flow made before chunking, on fewer files.
2. A no-change rebuild of 100,000 files the database already knows (records seeded with the
   files' real sizes, mtimes and hashes, one phrase each, as in bench/dataset.py).

Targets (issue "Operations at catalogue scale"): orchestration ≤ 5 ms per file at 20k files;
no-change rebuild of 100k files ≤ 60 s; server memory flat over the run.

Usage: .venv/bin/python bench/scale.py [--files 20000] [--unchunked-files 2000] [--known 100000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    echelon = Path(sys.executable).with_name("echelon")
    process = subprocess.Popen([str(echelon), "server", "--home", str(home), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return process, api
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the Prefect server did not start")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn runs the app in the same one)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def server_pid(launcher: subprocess.Popen) -> int:
    """`echelon server` execs `prefect server start`, which runs uvicorn in a child."""
    found = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
    children = [int(p) for p in found.stdout.split()]
    return children[0] if children else launcher.pid


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.running = pid, [], True

    def run(self) -> None:
        while self.running:
            self.samples.append(rss_mb(self.pid))
            time.sleep(0.5)


def count_requests() -> list[int]:
    """Count every HTTP request Prefect's clients send from this process."""
    from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient

    counter = [0]
    for cls in (PrefectHttpxAsyncClient, PrefectHttpxSyncClient):
        original = cls.send

        if cls is PrefectHttpxAsyncClient:
            async def send(self, request, *args, _original=original, **kwargs):
                counter[0] += 1
                return await _original(self, request, *args, **kwargs)
        else:
            def send(self, request, *args, _original=original, **kwargs):
                counter[0] += 1
                return _original(self, request, *args, **kwargs)
        cls.send = send
    return counter


def stub_analysis() -> None:
    """STUB: the per-file analysis returns an empty record at once (orchestration only)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    import flows.dataset as dataset
    from storage.records import TrackRecord
    from tasks.dataset.rebuild import config_hash

    def stub_chunk(items, config, timeout_s=None):
        chash = config_hash(config)
        return [TrackRecord(f.path, digest, f.size, f.mtime_ns, chash, "ok", duration_s=1.0)
                for f, digest in items]

    dataset.analyze_chunk_task = task(name="analyze audio files (STUB)",
                                      cache_policy=NO_CACHE)(stub_chunk)


def small_library(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:06d}.wav").write_bytes(rng.bytes(512))
    return folder


def settled_count(api: str, flow_run_id: str) -> int:
    """Task runs the server holds for a flow run. They reach it as events, a little after
    the run ends: count until the number stops moving."""
    import httpx

    last, stable = -1, 0
    while stable < 3:
        count = httpx.post(f"{api}/task_runs/count", json={
            "flow_runs": {"id": {"any_": [flow_run_id]}}}).json()
        stable = stable + 1 if count == last else 0
        last = count
        time.sleep(1.0)
    return last


def orchestration(folder: Path, api: str, pid: int, n_files: int, chunk_size: int | None) -> dict:
    from flows.dataset import rebuild_flow

    library = small_library(folder / f"library-{n_files}-{chunk_size}", n_files)
    requests = count_requests.counter
    before = requests[0]
    sampler = Sampler(pid)
    sampler.start()
    start = time.perf_counter()
    summary = rebuild_flow(library=library, home=folder / f"home-{n_files}-{chunk_size}",
                           chunk_size=chunk_size, file_timeout_s=None)
    seconds = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    assert summary["analyzed"] == n_files, summary
    task_runs = settled_count(api, summary["run_id"])
    memory = sampler.samples
    return {"files": n_files, "chunk": chunk_size or "auto", "task_runs": task_runs,
            "requests": requests[0] - before, "seconds": seconds,
            "ms_per_file": 1000 * seconds / n_files,
            "server_mb": (memory[0], max(memory), memory[-1])}


def no_change(folder: Path, n_files: int) -> dict:
    from flows.dataset import rebuild_flow
    from storage.db import PhraseDatabase
    from storage.home import Home
    from storage.records import PhraseRecord, TrackRecord
    from storage.stamps import content_hash
    from tasks.analysis.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, phrase_id
    from tasks.config import AnalysisConfig
    from tasks.dataset.rebuild import config_hash, discover

    library = small_library(folder / "known-library", n_files)
    config = AnalysisConfig()
    chash = config_hash(config)
    home = Home(folder / "known-home")
    database = PhraseDatabase.open(home.db_url())
    rng = np.random.default_rng(1)
    database.start_run("seed", str(library))
    start = time.perf_counter()
    batch = []
    for f in discover(library):
        digest = content_hash(f.path)
        vector = rng.normal(size=EMBEDDING_DIM).astype(np.float32)
        phrase = PhraseRecord(phrase_id(f.path, digest + chash, 0), 0, 0.0, 8.0, 4, 0,
                              np.zeros(70, np.float32), vector / np.linalg.norm(vector),
                              EMBEDDING_VERSION)
        batch.append(TrackRecord(f.path, digest, f.size, f.mtime_ns, chash, "ok",
                                 duration_s=80.0, phrases=(phrase,)))
        if len(batch) == 1000:
            database.save_records(batch, "seed")
            batch = []
    database.save_records(batch, "seed")
    seed_s = time.perf_counter() - start
    rebuild_flow(library=library, home=home.root, config=config)  # index and Parquet, once
    start = time.perf_counter()
    summary = rebuild_flow(library=library, home=home.root, config=config)
    seconds = time.perf_counter() - start
    assert summary["analyzed"] == 0 and summary["skipped"] == n_files, summary
    return {"files": n_files, "seconds": seconds, "seed_s": seed_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--unchunked-files", type=int, default=2_000,
                        help="files for the one-task-run-per-file anchor")
    parser.add_argument("--known", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, api = start_server(folder / "server-home")
        os.environ["PREFECT_API_URL"] = api
        try:
            import flows  # noqa: F401  (offline settings)

            stub_analysis()
            count_requests.counter = count_requests()
            pid = server_pid(server)
            rows = [orchestration(folder, api, pid, args.unchunked_files, 1),
                    orchestration(folder, api, pid, args.files, None)]
            known = no_change(folder, args.known)
        finally:
            time.sleep(3)  # the last logs and events reach the server before it stops
            os.killpg(server.pid, 15)
            server.wait(20)

    print("\nRebuild orchestration against a local Prefect server (analysis: STUB)\n")
    print("| files | files per task run | task runs | API requests | wall s | ms per file "
          "| server MB (start / max / end) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mb = " / ".join(f"{m:.0f}" for m in r["server_mb"])
        print(f"| {r['files']:,} | {r['chunk']} | {r['task_runs']:,} | {r['requests']:,} | "
              f"{r['seconds']:.1f} | {r['ms_per_file']:.2f} | {mb} |")
    anchor, ours = rows
    print(f"\nms per file, chunked / one task run per file: "
          f"{ours['ms_per_file'] / anchor['ms_per_file']:.2f}  (target ≤ 5 ms per file: "
          f"{'met' if ours['ms_per_file'] <= 5 else 'NOT met'})")
    print(f"no-change rebuild of {known['files']:,} known files: {known['seconds']:.1f} s "
          f"(target ≤ 60 s: {'met' if known['seconds'] <= 60 else 'NOT met'}; "
          f"seeding took {known['seed_s']:.0f} s)")


if __name__ == "__main__":
    main()
