"""Where the dataset flow's per-file tasks run: threads (default), processes, or a Dask cluster.

Heavy state (madmom's networks, the FAISS-free analysis models) is cached per process by the
tasks themselves, so each thread pool, process or Dask worker loads it once, not per file.
"""

from __future__ import annotations

import os
from typing import Literal

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

RunnerKind = Literal["threads", "processes", "dask"]


def default_workers() -> int:
    """Concurrent analyses: one per two cores. Each analysis already keeps about two cores
    busy (onnxruntime and BLAS threads); Prefect's default pool (cores + 4 threads) would
    oversubscribe them and run 25 % slower than a plain loop (bench/dataset.py)."""
    return max(1, (os.cpu_count() or 2) // 2)


def make_task_runner(runner: RunnerKind = "threads", workers: int | None = None,
                     dask_address: str | None = None) -> TaskRunner:
    """A task runner: `dask_address` (tcp://host:port) joins a running scheduler; without it
    `dask` starts a local cluster of `workers` processes with one thread each."""
    workers = workers or default_workers()
    if dask_address and runner != "dask":
        raise ValueError("--dask-address needs --runner dask")
    if runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if runner == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as error:  # pragma: no cover - a dependency of the project
            raise ValueError("the dask runner needs prefect-dask (pip install prefect-dask)") from error
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    raise ValueError(f"unknown task runner {runner!r}: threads, processes or dask")
