"""The dataset flow on each task runner: threads, processes, and a local Dask cluster.

The same generated library is rebuilt from scratch into a fresh home by each runner with the
same number of workers; the table gives wall time, minutes of audio per minute, and each
runner's time relative to threads (the default). Processes and Dask workers each load
madmom's networks once, which the first files pay for; threads share one copy.

Usage: .venv/bin/python bench/runners.py [--tracks 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import flows  # noqa: F401,E402  (offline settings)
from flows.dataset import rebuild_flow  # noqa: E402
from synthetic.tracks import random_spec, render, write_track  # noqa: E402


@flow(name="bench-warm-up")
def _warm_up() -> None:
    """Starts Prefect's temporary server once, so no timing below includes it."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(args.seed)
        audio_s = 0.0
        for i in range(args.tracks):
            track = render(random_spec(rng, duration_range_s=(40.0, 70.0)))
            write_track(track, folder / "library" / f"t{i:02d}.wav")
            audio_s += track.spec.duration_s
        _warm_up()
        for runner in ("threads", "processes", "dask"):
            start = time.perf_counter()
            summary = rebuild_flow(library=folder / "library", home=folder / runner,
                                   runner=runner, workers=args.workers)
            rows.append((runner, time.perf_counter() - start, summary["analyzed"]))

    base = rows[0][1]
    table = Table(title=f"dataset rebuild of {args.tracks} generated tracks "
                        f"({audio_s / 60:.1f} min of audio), {args.workers} workers")
    for column in ("runner", "files", "wall (s)", "min audio / min", "vs threads"):
        table.add_column(column, justify="right")
    for runner, seconds, analyzed in rows:
        table.add_row(runner, str(analyzed), f"{seconds:.1f}", f"{audio_s / seconds:.1f}",
                      f"{seconds / base:.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
