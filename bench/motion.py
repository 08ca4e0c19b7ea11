"""Motion input: conditioning-encoder throughput and the cost of checking an hour of recording.

1. Encoder throughput in frames per second: eager PyTorch vs the same weights exported to
   ONNX and run by onnxruntime (the real-time engine's runtime), at batch 1 (one frame per
   call, as live) and batch 64 (64 frames per call), and one 4,096-frame sequence (offline).
2. One hour of two-phone 60 Hz recording (432,000 rows, with jitter and a few NaN frames):
   validate + resample to 30 Hz, as Parquet and as CSV, vs reading the same file with pyarrow
   alone (the floor any validator pays).

Usage: .venv/bin/python bench/motion.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from synthetic.performances import PhoneFaults, dance, write_performance  # noqa: E402
from synthetic.tracks import SectionSpec, TrackSpec  # noqa: E402
from tasks.models.builders import build_encoder  # noqa: E402
from tasks.models.export import export_onnx  # noqa: E402
from tasks.motion.conditioning import as_tensors  # noqa: E402
from tasks.motion.recording import Performance, load_performance  # noqa: E402
from tasks.motion.windows import conditioning_inputs  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def encoder_rows(folder: Path) -> list[tuple]:
    import onnxruntime

    rng = np.random.default_rng(0)
    n = 4096
    performance = Performance("bench", 30.0, 0.0, rng.normal(size=(n, 2, 25)).astype(np.float32),
                              np.ones((n, 2), bool), np.zeros(n, np.int32))
    encoder = build_encoder()
    path = folder / "encoder.onnx"
    export_onnx(encoder, path, as_tensors(conditioning_inputs(performance, np.arange(8))))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = []
    for label, batch, frames, calls in (("batch 1 (live)", 1, 1, 400),
                                        ("batch 64", 64, 1, 50),
                                        ("1 × 4,096-frame sequence", 1, 4096, 3)):
        inputs = conditioning_inputs(performance, np.arange(batch * frames))
        w, p, t = (x.reshape(batch, frames, *x.shape[2:]) for x in as_tensors(inputs))
        feed = {"windows": w.numpy(), "present": p.numpy(), "transitions": t.numpy()}

        def eager():
            with torch.no_grad():
                for _ in range(calls):
                    encoder(w, p, t)

        def onnx():
            for _ in range(calls):
                session.run(None, feed)

        eager(), onnx()  # warm-up
        fps_eager = calls * batch * frames / best_of(eager)
        fps_onnx = calls * batch * frames / best_of(onnx)
        rows.append((label, fps_eager, fps_onnx))
    return rows


def recording_rows(folder: Path, minutes: float) -> tuple[list[tuple], int]:
    bars = int(minutes * 60 / (4 * 60 / 124)) + 1
    track_spec = TrackSpec(bpm=124.0, sections=(SectionSpec("groove", bars),), seed=1)
    # only the beat grid and sections are needed; render() would synthesise an hour of audio
    track = _grid_only(track_spec)
    table = dance(track, np.random.default_rng(0), faults=PhoneFaults(nan_frames=20))
    rows = []
    for suffix in (".parquet", ".csv"):
        path = write_performance(table, folder / f"hour{suffix}")
        read = (lambda p=path: pq.read_table(p)) if suffix == ".parquet" else \
            (lambda p=path: pacsv.read_csv(p))
        ours = best_of(lambda p=path: load_performance(p), repeats=2)
        floor = best_of(read, repeats=2)
        rows.append((suffix[1:], path.stat().st_size / 1e6, ours, floor))
    return rows, table.num_rows


def _grid_only(spec: TrackSpec):
    from synthetic.tracks import BEATS_PER_BAR, GeneratedTrack

    beats = spec.lead_in_s + np.arange(spec.n_bars * BEATS_PER_BAR) * spec.beat_s
    downbeats = beats[::BEATS_PER_BAR]
    return GeneratedTrack(spec, np.zeros(1, np.float32), beats, downbeats,
                          downbeats[:1], np.array([beats[-1] + spec.beat_s]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the recording")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        enc = encoder_rows(folder)
        rec, n_rows = recording_rows(folder, args.minutes)

    table = Table(title=f"Echelon conditioning encoder, frames per second "
                        f"({torch.get_num_threads()} threads, CPU)")
    for column in ("calls", "eager PyTorch", "onnxruntime", "eager / onnxruntime"):
        table.add_column(column, justify="right")
    for label, eager, onnx in enc:
        table.add_row(label, f"{eager:,.0f}", f"{onnx:,.0f}", f"{eager / onnx:.2f}×")
    console.print(table)

    table = Table(title=f"{args.minutes:g} min of two-phone 60 Hz recording ({n_rows:,} rows): "
                        "validate + resample to 30 Hz")
    for column in ("format", "MB", "echelon (s)", "pyarrow read only (s)", "ratio",
                   "× real time"):
        table.add_column(column, justify="right")
    for fmt, mb, ours, floor in rec:
        table.add_row(fmt, f"{mb:.1f}", f"{ours:.2f}", f"{floor:.2f}", f"{ours / floor:.1f}×",
                      f"{args.minutes * 60 / ours:,.0f}×")
    console.print(table)


if __name__ == "__main__":
    main()
