"""Development songs at tempi the Hydrogen demos do not have: the same songs with their tempo
scaled, rendered by `../shared/eval/make_h2corpus.py --songs`, truth from the edited files.

The beat-level rules (`tasks/analysis/beats.py: beat_level`) were developed on these at 1.6×
(157–200 BPM) and 0.6× (59–75 BPM), beside the songs at their own tempi. Hydrogen's humanize is
drawn anew at each render, so two builds are not the same audio.

usage: .venv/bin/python bench/make_h2_tempo_variants.py OUT [--factor 1.6 --factor 0.6]
       writes OUT/x1.6/{tracks,truth.json}, OUT/x0.6/…; then bench/analysis.py --corpus OUT/x1.6
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SONGS = Path("/usr/share/hydrogen/data/demo_songs")
BUILDER = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "make_h2corpus.py"
MIN_BPM, MAX_BPM = 30.0, 200.0  # what the songs may be scaled to


def scaled_song(text: str, factor: float) -> str:
    """The .h2song text with its tempo times `factor` (rounded, within MIN_BPM–MAX_BPM)."""
    match = re.search(r"<bpm>([\d.]+)</bpm>", text)
    if match is None:
        raise ValueError("no <bpm> in the song")
    bpm = min(MAX_BPM, max(MIN_BPM, round(float(match.group(1)) * factor)))
    return text[:match.start(1)] + f"{bpm:g}" + text[match.end(1):]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--factor", type=float, action="append", default=[],
                        help="tempo factor, repeatable (default: 1.6 and 0.6)")
    parser.add_argument("--builder", type=Path, default=BUILDER,
                        help="make_h2corpus.py (default: ../shared/eval/ beside the repository)")
    args = parser.parse_args()
    if not args.builder.exists() or not SONGS.exists():
        print(f"needs {args.builder} and {SONGS} (`make corpus` installs hydrogen-data)",
              file=sys.stderr)
        return 2
    for factor in args.factor or [1.6, 0.6]:
        with tempfile.TemporaryDirectory() as songs:
            for song in sorted(SONGS.glob("*.h2song")):
                (Path(songs) / song.name).write_text(scaled_song(song.read_text(), factor))
            out = args.out / f"x{factor:g}"
            subprocess.run([sys.executable, str(args.builder), str(out), "--songs", songs,
                            "--jobs", "2"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
