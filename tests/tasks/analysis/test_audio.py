import shutil

import numpy as np
import pytest
import soundfile as sf

from tasks.analysis.audio import (AudioEmptyError, AudioMissingError, AudioNonFiniteError,
                                  AudioSilentError, AudioTooShortError, AudioTruncatedError,
                                  NotAudioError, load_audio)
from tests.conftest import tone


def clicks(sr: int, seconds: float = 3.0, channels: int = 1) -> np.ndarray:
    x = tone(440.0, seconds, sr, channels, amp=0.3)
    return x


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_channel_count_and_rate_becomes_mono_at_the_analysis_rate(tmp_path, channels, rate):
    path = tmp_path / f"x_{channels}_{rate}.wav"
    sf.write(path, clicks(rate, 3.0, channels), rate)
    audio = load_audio(path, 44100)
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert audio.sample_rate == 44100 and audio.source_sample_rate == rate
    assert audio.channels == channels
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    # The 440 Hz tone survives the downmix and the resampling at its level.
    assert np.sqrt(np.mean(audio.samples**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("AIFF", "aiff")])
def test_soundfile_formats(tmp_path, fmt, ext):
    path = tmp_path / f"x.{ext}"
    sf.write(path, clicks(44100, 2.5, 2), 44100, format=fmt)
    assert load_audio(path).duration_s == pytest.approx(2.5, abs=0.01)


def test_real_recordings_in_three_codecs_agree(data_dir):
    flac = load_audio(data_dir / "stereo_sample.flac")
    assert flac.channels == 2
    if shutil.which("ffmpeg") is None:
        with pytest.raises(NotAudioError, match="ffmpeg"):
            load_audio(data_dir / "stereo_sample.m4a")
        return
    m4a = load_audio(data_dir / "stereo_sample.m4a")
    assert m4a.channels == 2
    assert m4a.duration_s == pytest.approx(flac.duration_s, abs=0.06)  # AAC priming/padding


def test_22050_file_matches_44100_original(data_dir):
    a = load_audio(data_dir / "sample.wav")
    b = load_audio(data_dir / "sample_22050.wav")
    n = min(len(a.samples), len(b.samples))
    assert abs(len(a.samples) - len(b.samples)) < 100
    # Same music: strongly correlated once resampled (the 44.1 kHz file has content above 11 kHz).
    assert np.corrcoef(a.samples[:n], b.samples[:n])[0, 1] > 0.9


def test_missing(tmp_path):
    with pytest.raises(AudioMissingError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioEmptyError, match="empty"):
        load_audio(path)


def test_header_only_wav_has_no_frames(tmp_path):
    path = tmp_path / "header.wav"
    sf.write(path, np.zeros((0,), np.float32), 44100)
    with pytest.raises(AudioEmptyError):
        load_audio(path)


def test_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes, not a recording\n" * 50)
    with pytest.raises(NotAudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_truncated(tmp_path, ext):
    full = tmp_path / f"full.{ext}"
    sf.write(full, clicks(44100, 4.0), 44100)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioTruncatedError):
        load_audio(cut)


def test_non_finite(tmp_path):
    x = clicks(44100, 3.0)
    x[1000:1010] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    with pytest.raises(AudioNonFiniteError, match="10 samples"):
        load_audio(path)


def test_too_short(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, clicks(44100, 1.5), 44100)
    with pytest.raises(AudioTooShortError, match="1.50 s"):
        load_audio(path)


def test_silent(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(44100 * 3, np.float32), 44100)
    with pytest.raises(AudioSilentError):
        load_audio(path)
