"""A held-out corpus of real, human-made songs: the MIDI music that ships in Debian packages,
rendered with a General MIDI SoundFont, with exact beats and downbeats from the MIDI files.

Sources (Debian packages; `make corpus` installs them), two sets:
- `games` (the default): the OpenTTD music set (`openttd-openmsx`: ragtime, blues, swing, rock,
  64–200 BPM, one 3/4 song, tempo changes and a drifting tempo) and Planet Blupi's music
  (`planetblupi-music-midi`).
- `freedoom`: the music of Freedoom phases 1 and 2 (`freedoom`: the D_* MIDI lumps of its two
  WADs; rock, metal, electronic and ambient by its contributors, 66–186 BPM, 3/4 songs and a
  rubato one), a set nobody here had heard before it was added.
Rendered by `fluidsynth` with the TimGM6mb SoundFont (`timgm6mb-soundfont`).

Truth (pretty_midi reads the tempo map and time signatures): beats are the notated beats
(quarter notes in 3/4 and 4/4), downbeats the bar lines, from 0 s to the last note or to
`--seconds`, whichever comes first; every song is cut there (the long Planet Blupi loops, and
the bench's time). Songs in other meters (5/4, 6/4) are skipped, with the reason in
`OUT/skipped.json`, and so are songs whose notes do not keep to their notated beats (Freedoom's
nine conversions from Doom's tempo-less MUS format). There are no section marks in these files: the corpus has no section truth.

Within each source, every other song by name is marked `"split": "held-out"` (the others
`"dev"`): the held-out half is kept out of every tuning decision, and bench/analysis.py reports
the halves apart.

OUT/tracks/*.wav and OUT/truth.json (`beats`, `downbeats`, `end`, `tempo`, `meter`, `source`,
`split`) have the layout of `../shared/eval/make_h2corpus.py`'s, so `bench/analysis.py --corpus OUT`
reads both.

With `--tempo-factor F --dev-only` the development half only, every tempo scaled by F (a
tempo that leaves 57–205 BPM skips the song): development material at tempi the songs do not
have (fast and slow music is where trackers slip an octave), with the held-out half untouched.

usage: .venv/bin/python bench/make_midi_corpus.py OUT [--set games|freedoom] [--seconds 60]
       [--tempo-factor F --dev-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

# set → {folder of MIDI files, or a WAD whose music lumps are MIDI files → the prefix of its songs' names}
SETS = {"games": {"/usr/share/games/openttd/baseset/openmsx": "openmsx",
                  "/usr/share/planetblupi/music": "blupi"},
        "freedoom": {"/usr/share/games/doom/freedoom1.wad": "freedoom1",
                     "/usr/share/games/doom/freedoom2.wad": "freedoom2"}}
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SAMPLE_RATE = 44100
# The notes of a song whose MIDI tempo is its music's gather at a few places within the notated
# beat (16ths, triplets; late or early by a constant where the file was played in); a song
# converted from a tempo-less format (Doom's MUS: a fixed 140 ticks per second, written as
# 95 BPM) has its notes anywhere in it, and its notated beats are not truth. Measured as the
# fullest 24th of a beat against the mean: 1.2–1.4 for Freedoom's nine MUS conversions,
# 2.3–29 for the other 95 songs of both sets.
PHASE_BINS = 24
GATHERED = 2.0
METERS = (3, 4)  # numerators over a quarter-note denominator that the analysis models
SCALED_BPM = (57.0, 205.0)  # a scaled song's tempi stay within the analysis's range (60–200)


def midi_truth(path: Path, seconds: float) -> dict:
    """Beats and bar lines of one MIDI file up to `seconds`; raises ValueError for a meter
    outside 3/4 and 4/4 (a file without a time signature is 4/4, as the MIDI standard says)
    and for notes that do not keep to the notated beat (`beat_phase_peak`)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    for change in midi.time_signature_changes:
        if change.denominator != 4 or change.numerator not in METERS:
            raise ValueError(f"meter {change.numerator}/{change.denominator}")
    end = min(midi.get_end_time(), seconds)
    beats = midi.get_beats()
    peak = beat_phase_peak(midi, beats, end)
    if peak < GATHERED:
        raise ValueError(f"notes spread evenly over the notated beat (peak {peak:.1f}× the "
                         "mean): a tempo-less conversion, no beats to take as truth")
    downbeats = midi.get_downbeats()
    meter = midi.time_signature_changes[0].numerator if midi.time_signature_changes else 4
    _, tempi = midi.get_tempo_changes()
    return {"beats": [round(float(b), 4) for b in beats if b < end],
            "downbeats": [round(float(d), 4) for d in downbeats if d < end],
            "end": round(float(end), 4), "tempo": round(float(tempi[0]), 2), "meter": meter}


def beat_phase_peak(midi, beats: np.ndarray, end: float) -> float:
    """How much the notes starting before `end` gather in one place within the notated beat:
    the fullest of PHASE_BINS bins of their phase against the mean bin (1: spread evenly;
    inf for a song without notes)."""
    onsets = np.array([note.start for instrument in midi.instruments
                       for note in instrument.notes if note.start < end])
    if len(onsets) == 0 or len(beats) < 2:
        return float("inf")
    index = np.clip(np.searchsorted(beats, onsets, side="right") - 1, 0, len(beats) - 2)
    phase = (onsets - beats[index]) / (beats[index + 1] - beats[index])
    counts, _ = np.histogram(phase % 1.0, bins=PHASE_BINS, range=(0.0, 1.0))
    return float(counts.max() / counts.mean())


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


def wad_music(wad: Path, out: Path) -> list[Path]:
    """The music lumps (D_*) of a Doom WAD that are MIDI files, written to `out` as NAME.mid;
    lumps in Doom's own MUS format are left out. A WAD is a 12-byte header (kind, lump count,
    directory offset) and a directory of 16-byte entries (offset, size, 8-byte name)."""
    data = wad.read_bytes()
    try:
        kind, count, directory = struct.unpack_from("<4sii", data)
        entries = [struct.unpack_from("<ii8s", data, directory + 16 * i) for i in range(count)]
    except struct.error as error:  # a directory past the end of the file
        raise ValueError(f"{wad}: truncated ({error})") from error
    if kind not in (b"IWAD", b"PWAD"):
        raise ValueError(f"{wad} is not a WAD")
    songs = []
    for offset, size, raw in entries:
        name = raw.rstrip(b"\0").decode("ascii", "replace")
        lump = data[offset: offset + size]
        if name.startswith("D_") and lump.startswith(b"MThd"):
            songs.append(out / f"{name[2:].lower()}.mid")
            songs[-1].write_bytes(lump)
    return songs


def song_files(sources: dict[str, str], tmp: Path) -> dict[str, tuple[Path, str]]:
    """{track name → (MIDI file, where it comes from: the file, or WAD:LUMP)} of every source;
    a song that another source (or lump) already holds byte for byte is left out (Freedoom
    uses one song on two levels)."""
    files, seen = {}, set()
    for source, prefix in sources.items():
        if source.endswith(".wad"):
            folder = tmp / prefix
            folder.mkdir()
            try:
                midis = wad_music(Path(source), folder)
            except (OSError, ValueError) as error:  # the other sources still make a corpus
                print(f"{source}: skipped ({error})", file=sys.stderr)
                continue
        else:
            midis = list(Path(source).glob("*.mid"))
        for midi in sorted(midis):
            digest = hashlib.sha1(midi.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                origin = f"{source}:D_{midi.stem.upper()}" if source.endswith(".wad") \
                    else str(midi)
                files[f"{prefix}_{midi.stem}.wav"] = (midi, origin)
    return files


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
    parser.add_argument("--set", choices=sorted(SETS), default="games",
                        help="which songs (default: games, the OpenTTD and Planet Blupi music)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="cut every song here (default 60)")
    parser.add_argument("--tempo-factor", type=float, default=1.0,
                        help="scale every song's tempo by this (development variants)")
    parser.add_argument("--dev-only", action="store_true",
                        help="only the development half (never render the held-out songs)")
    args = parser.parse_args()
    sources = SETS[args.set]
    missing = [tool for tool in ("fluidsynth",) if shutil.which(tool) is None]
    missing += [f for f in (SOUNDFONT, *sources) if not Path(f).exists()]
    if missing:
        print(f"missing: {', '.join(missing)} — `make corpus` installs them", file=sys.stderr)
        return 2
    (args.out / "tracks").mkdir(parents=True, exist_ok=True)
    truth, skipped = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        files = song_files(sources, Path(tmp))
        # The split is made on the songs at their own tempi (the meter decides which are
        # kept), so a tempo variant's development half is the corpus's.
        for name, (midi, origin) in files.items():
            try:
                truth[name] = {**midi_truth(midi, args.seconds), "source": origin}
            except Exception as error:  # noqa: BLE001 — a broken file is skipped, with its reason
                skipped[name] = str(error) or type(error).__name__
        # Within each source, every other song by name is held out of every tuning decision
        # (it moves only if the songs kept change): bench/analysis.py reports the halves apart.
        for prefix in sources.values():
            for i, name in enumerate(sorted(n for n in truth if n.startswith(prefix + "_"))):
                truth[name]["split"] = "held-out" if i % 2 else "dev"
        if args.dev_only:
            truth = {name: song for name, song in truth.items() if song["split"] == "dev"}
        scaled = Path(tmp) / "scaled"
        scaled.mkdir()
        for i, name in enumerate(sorted(truth), 1):
            (midi, origin), split = files[name], truth[name]["split"]
            try:
                if args.tempo_factor != 1.0:
                    midi = scaled_midi(midi, args.tempo_factor, scaled)
                    truth[name] = {**midi_truth(midi, args.seconds), "source": origin,
                                   "split": split}
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
