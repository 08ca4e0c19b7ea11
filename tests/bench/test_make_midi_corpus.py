"""The MIDI corpus builder's own parts: music lumps out of a Doom WAD, and the test that keeps
tempo-less conversions out of the truth."""

import importlib.util
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "make_midi_corpus", Path(__file__).resolve().parents[2] / "bench" / "make_midi_corpus.py")
corpus = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(corpus)


def _wad(lumps: list[tuple[str, bytes]]) -> bytes:
    """A PWAD: header, the lumps' data, then the directory."""
    data, directory, offset = b"", b"", 12
    for name, lump in lumps:
        directory += struct.pack("<ii8s", offset, len(lump), name.encode())
        data += lump
        offset += len(lump)
    return struct.pack("<4sii", b"PWAD", len(lumps), offset) + data + directory


def test_only_the_midi_music_lumps_come_out_of_a_wad(tmp_path):
    midi = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60" + b"MTrk\x00\x00\x00\x00"
    wad = tmp_path / "music.wad"
    wad.write_bytes(_wad([("MAP01", b"not music"), ("D_RUNNIN", midi),
                          ("D_OLDSNG", b"MUS\x1a in Doom's own format"), ("DMXGUS", b"MThd?")]))
    out = tmp_path / "out"
    out.mkdir()
    songs = corpus.wad_music(wad, out)
    assert [song.name for song in songs] == ["runnin.mid"]
    assert songs[0].read_bytes() == midi
    (tmp_path / "not.wad").write_bytes(b"RIFF" + bytes(20))
    (tmp_path / "cut.wad").write_bytes(wad.read_bytes()[:40])  # its directory cut off
    for broken in ("not.wad", "cut.wad"):
        with pytest.raises(ValueError):
            corpus.wad_music(tmp_path / broken, out)
    # a broken WAD is left out with its reason; the other sources still make the corpus
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / "song.mid").write_bytes(midi)
    (folder / "same_song.mid").write_bytes(midi)  # byte for byte: one song
    (tmp_path / "work").mkdir()
    files = corpus.song_files({str(tmp_path / "cut.wad"): "cut", str(folder): "games"},
                              tmp_path / "work")
    assert list(files) == ["games_same_song.wav"]
    assert files["games_same_song.wav"] == (folder / "same_song.mid", str(folder / "same_song.mid"))
    (tmp_path / "work2").mkdir()
    files = corpus.song_files({str(wad): "doom"}, tmp_path / "work2")
    assert files["doom_runnin.wav"][1] == f"{wad}:D_RUNNIN"  # not the temporary copy


def _song(onsets) -> SimpleNamespace:
    notes = [SimpleNamespace(start=float(t)) for t in onsets]
    return SimpleNamespace(instruments=[SimpleNamespace(notes=notes)])


def test_notes_that_keep_to_the_notated_beat_gather_and_tempo_less_ones_do_not():
    beats = 0.5 * np.arange(121)  # 120 BPM, one minute
    eighths = np.arange(0, 60, 0.25)
    played = eighths + np.random.default_rng(0).normal(0, 0.008, len(eighths))  # by hand
    anywhere = np.sort(np.random.default_rng(1).uniform(0, 60, 400))  # MUS: 140 ticks a second
    assert corpus.beat_phase_peak(_song(eighths), beats, 60.0) >= 10
    assert corpus.beat_phase_peak(_song(played), beats, 60.0) >= corpus.GATHERED
    assert corpus.beat_phase_peak(_song(anywhere), beats, 60.0) < corpus.GATHERED
    assert corpus.beat_phase_peak(_song([]), beats, 60.0) == float("inf")
