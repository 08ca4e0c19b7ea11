"""A held-out corpus of real, human-made songs: the MIDI music that ships in Debian packages,
rendered with a General MIDI SoundFont, with exact beats and downbeats from the MIDI files.

Sources (Debian packages; `make corpus` installs them): the OpenTTD music set
(`openttd-openmsx`: ragtime, blues, swing, rock, 64–200 BPM, one 3/4 song, tempo changes and
a drifting tempo) and Planet Blupi's music (`planetblupi-music-midi`). Rendered by `fluidsynth`
with the TimGM6mb SoundFont (`timgm6mb-soundfont`).

Truth (pretty_midi reads the tempo map and time signatures): beats are the notated beats
(quarter notes in 3/4 and 4/4), downbeats the bar lines, from 0 s to the last note or to
`--seconds`, whichever comes first; every song is cut there (the long Planet Blupi loops, and
the bench's time). Songs in other meters (5/4, 6/4) are skipped, with the reason in
`OUT/skipped.json`. There are no section marks in these files: the corpus has no section truth.

Every other song by name is marked `"split": "held-out"` (the others `"dev"`): the held-out
half is kept out of every tuning decision, and bench/analysis.py reports the halves apart.

OUT/tracks/*.wav and OUT/truth.json (`beats`, `downbeats`, `end`, `tempo`, `meter`, `source`,
`split`) have the layout of `../shared/eval/make_h2corpus.py`'s, so `bench/analysis.py --corpus OUT`
reads both.

With `--tempo-factor F --dev-only` the development half only, every tempo scaled by F (a
tempo that leaves 57–205 BPM skips the song): development material at tempi the songs do not
have (fast and slow music is where trackers slip an octave), with the held-out half untouched.

usage: .venv/bin/python bench/make_midi_corpus.py OUT [--seconds 60] [--tempo-factor F --dev-only]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

# folder → the prefix of its songs' names
SOURCES = {"/usr/share/games/openttd/baseset/openmsx": "openmsx",
           "/usr/share/planetblupi/music": "blupi"}
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SAMPLE_RATE = 44100
METERS = (3, 4)  # numerators over a quarter-note denominator that the analysis models
SCALED_BPM = (57.0, 205.0)  # a scaled song's tempi stay within the analysis's range (60–200)


def midi_truth(path: Path, seconds: float) -> dict:
    """Beats and bar lines of one MIDI file up to `seconds`; raises ValueError for a meter
    outside 3/4 and 4/4 (a file without a time signature is 4/4, as the MIDI standard says)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    for change in midi.time_signature_changes:
        if change.denominator != 4 or change.numerator not in METERS:
            raise ValueError(f"meter {change.numerator}/{change.denominator}")
    end = min(midi.get_end_time(), seconds)
    beats = midi.get_beats()
    downbeats = midi.get_downbeats()
    meter = midi.time_signature_changes[0].numerator if midi.time_signature_changes else 4
    _, tempi = midi.get_tempo_changes()
    return {"beats": [round(float(b), 4) for b in beats if b < end],
            "downbeats": [round(float(d), 4) for d in downbeats if d < end],
            "end": round(float(end), 4), "tempo": round(float(tempi[0]), 2), "meter": meter,
            "source": str(path)}


def scaled_midi(path: Path, factor: float, out: Path) -> Path:
    """A copy of the MIDI file at `factor` times its tempo (every tempo change scaled), in
    `out`; raises ValueError when a tempo leaves SCALED_BPM."""
    import mido

    song = mido.MidiFile(str(path))
    tempi = [m for track in song.tracks for m in track if m.type == "set_tempo"]
    if not tempi:  # the MIDI default, 120 BPM, made explicit so that it can be scaled
        tempi = [mido.MetaMessage("set_tempo", tempo=500_000, time=0)]
        song.tracks[0].insert(0, tempi[0])
    for message in tempi:
        message.tempo = int(round(message.tempo / factor))
        bpm = mido.tempo2bpm(message.tempo)
        if not SCALED_BPM[0] <= bpm <= SCALED_BPM[1]:
            raise ValueError(f"{bpm:.0f} BPM at {factor}x")
    target = out / path.name
    song.save(str(target))
    return target


def render(midi: Path, wav: Path, seconds: float) -> None:
    """The MIDI file through fluidsynth, cut to `seconds`, as a 16-bit WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE),
                        "-F", str(full), SOUNDFONT, str(midi)],
                       check=True, capture_output=True, timeout=600)
        audio, rate = sf.read(full, frames=int(seconds * SAMPLE_RATE), always_2d=True)
    peak = float(np.max(np.abs(audio))) or 1.0
    sf.write(wav, audio / max(peak, 1.0), rate, subtype="PCM_16")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="cut every song here (default 60)")
    parser.add_argument("--tempo-factor", type=float, default=1.0,
                        help="scale every song's tempo by this (development variants)")
    parser.add_argument("--dev-only", action="store_true",
                        help="only the development half (never render the held-out songs)")
    args = parser.parse_args()
    missing = [tool for tool in ("fluidsynth",) if shutil.which(tool) is None]
    missing += [f for f in (SOUNDFONT, *SOURCES) if not Path(f).exists()]
    if missing:
        print(f"missing: {', '.join(missing)} — `make corpus` installs them", file=sys.stderr)
        return 2
    (args.out / "tracks").mkdir(parents=True, exist_ok=True)
    truth, skipped = {}, {}
    files = {f"{prefix}_{midi.stem}.wav": midi for source, prefix in SOURCES.items()
             for midi in sorted(Path(source).glob("*.mid"))}
    # The split is made on the songs at their own tempi (the meter decides which are kept), so
    # a tempo variant's development half is the corpus's.
    for name, midi in files.items():
        try:
            truth[name] = midi_truth(midi, args.seconds)
        except Exception as error:  # noqa: BLE001 — a broken file is skipped, with its reason
            skipped[name] = str(error) or type(error).__name__
    # Every other song by name is held out of every tuning decision (fixed before the first
    # measurement on this corpus): bench/analysis.py reports the halves apart.
    for i, name in enumerate(sorted(truth)):
        truth[name]["split"] = "held-out" if i % 2 else "dev"
    if args.dev_only:
        truth = {name: song for name, song in truth.items() if song["split"] == "dev"}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(sorted(truth), 1):
            midi, split = files[name], truth[name]["split"]
            try:
                if args.tempo_factor != 1.0:
                    midi = scaled_midi(midi, args.tempo_factor, Path(tmp))
                    truth[name] = {**midi_truth(midi, args.seconds), "split": split}
                render(midi, args.out / "tracks" / name, args.seconds)
            except Exception as error:  # noqa: BLE001
                skipped[name] = str(error) or type(error).__name__
                del truth[name]
                print(f"[{i}] {name}: skipped ({skipped[name]})")
                continue
            song = truth[name]
            print(f"[{i}] {name}: {song['tempo']:.0f} BPM {song['meter']}/4, "
                  f"{len(song['beats'])} beats")
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))
    (args.out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    print(f"{len(truth)} songs in {args.out}, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
