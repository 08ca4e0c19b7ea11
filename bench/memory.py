"""Peak memory of `analyze` against track length: does a DJ mix of an hour fit?

Generated house tracks of 1, 10 and 60 minutes (stereo, 16-bit WAV; a rendered 2-minute track
repeated, so the long files are made quickly), each analysed in a fresh process so its peak
resident set is its own. The anchor is madmom alone (its downbeat RNN and DBN over the whole
file, as `madmom.features.downbeats` is documented to be used), run the same way.

Targets (issue "Nothing one file can do stops the night"): the 60-minute peak at most 1.5× the
10-minute one, and under 3 GB.

Usage: .venv/bin/python bench/memory.py [--minutes 1 10 60] [--anchor-max-minutes 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthetic.tracks import SectionSpec, TrackSpec, render  # noqa: E402

ECHELON = """
import json, resource, sys, time
from tasks.analysis.track import analyze_track
from tasks.config import load_analysis_config
config = load_analysis_config(None)
start = time.perf_counter()
result = analyze_track(sys.argv[1], config)
print(json.dumps({"seconds": time.perf_counter() - start, "beats": len(result.beat_track.beats),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

MADMOM = """
import json, resource, sys, time
import onnxruntime
onnxruntime.set_default_logger_severity(3)
from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
start = time.perf_counter()
act = RNNDownBeatProcessor()(sys.argv[1])
beats = DBNDownBeatTrackingProcessor(beats_per_bar=[4], min_bpm=75, max_bpm=165, fps=100)(act)
print(json.dumps({"seconds": time.perf_counter() - start, "beats": len(beats),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IDLE = """
import json, resource
import tasks.analysis.track, madmom.features.downbeats
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_long_track(path: Path, minutes: float) -> Path:
    """A stereo WAV of `minutes`, written a block at a time (the generator holds 2 minutes)."""
    spec = TrackSpec(bpm=124.0, seed=11, lead_in_s=0.0,
                     sections=tuple(SectionSpec(kind, 8) for kind in
                                    ("intro_kick", "groove", "break", "groove", "groove", "break",
                                     "intro_kick", "groove")))
    loop = render(spec).samples  # (N,) float32, ~2 min
    right = np.roll(loop, 7) * 0.9  # a slightly different right channel: a real stereo file
    block = np.stack([loop, right], axis=1)
    total = int(minutes * 60 * spec.sample_rate)
    with sf.SoundFile(path, "w", samplerate=spec.sample_rate, channels=2, subtype="PCM_16") as out:
        written = 0
        while written < total:
            part = block[: total - written]
            out.write(part)
            written += len(part)
    return path


def measure(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                          "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0, 60.0])
    parser.add_argument("--anchor-max-minutes", type=float, default=10.0,
                        help="run madmom alone only up to this length (it grows ~0.5 GB/min)")
    args = parser.parse_args()

    idle = measure(IDLE)["peak_mb"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = write_long_track(Path(tmp) / f"{minutes:g}min.wav", minutes)
            ours = measure(ECHELON, str(path))
            anchor = (measure(MADMOM, str(path)) if minutes <= args.anchor_max_minutes
                      else {"error": f"not run (> {args.anchor_max_minutes:g} min)"})
            rows.append((minutes, ours, anchor))
            path.unlink()

    print(f"\nPeak resident memory of one analysis (imports alone: {idle:.0f} MB)\n")
    print("| minutes | echelon peak MB | echelon s | madmom alone peak MB | madmom s | peak ratio |")
    print("|---|---|---|---|---|---|")
    for minutes, ours, anchor in rows:
        ratio = (f"{ours['peak_mb'] / anchor['peak_mb']:.2f}"
                 if "peak_mb" in ours and "peak_mb" in anchor else "—")
        print(f"| {minutes:g} | {_cell(ours, 'peak_mb', '.0f')} | {_cell(ours, 'seconds', '.1f')} "
              f"| {_cell(anchor, 'peak_mb', '.0f')} | {_cell(anchor, 'seconds', '.1f')} | {ratio} |")
    peaks = {m: o.get("peak_mb") for m, o, _ in rows}
    if peaks.get(10.0) and peaks.get(60.0):
        growth = peaks[60.0] / peaks[10.0]
        print(f"\n60 min / 10 min peak: {growth:.2f} (target ≤ 1.5); 60-minute peak "
              f"{peaks[60.0] / 1024:.2f} GB (target < 3 GB)")


def _cell(result: dict, key: str, fmt: str) -> str:
    return format(result[key], fmt) if key in result else result.get("error", "—")


if __name__ == "__main__":
    main()
