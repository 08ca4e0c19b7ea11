"""Analysis a block at a time gives what the whole signal gives: features, activations and
beats, across block seams, resampling included; and the stream's checks still fire."""

import numpy as np
import pytest
import soundfile as sf

from tasks.analysis import stream
from tasks.analysis.accuracy import beat_f
from tasks.analysis.audio import AudioNonFiniteError, load_audio, resample
from tasks.analysis.backends import MadmomActivations, _madmom_rnn, backend, windowed_beats
from tasks.analysis.features import frame_features
from tasks.analysis.track import analyze_track, decode_features
from tasks.config import AnalysisConfig

CONFIG = AnalysisConfig()


@pytest.fixture()
def small_blocks(monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_FRAMES", 700)  # 7 s: a 62 s track has nine seams


def test_blocks_give_the_whole_signals_features_and_activation(house_wav, small_blocks):
    from madmom.audio.signal import Signal

    info, blocks, activation, _ = decode_features(house_wav, CONFIG, backend("madmom"))
    whole = load_audio(house_wav, CONFIG.sample_rate)
    assert info.n_samples == len(whole.samples)
    features = frame_features(resample(whole.samples, 44100, 22050), 22050)
    assert blocks.mel_db.shape == features.mel_db.shape
    for name in ("mel_db", "mfcc", "onset", "rms_db", "centroid_hz"):
        a, b = getattr(blocks, name), getattr(features, name)
        assert np.abs(a - b).max() <= 1e-3 * max(1.0, np.abs(b).max()), name

    rnn = _madmom_rnn()
    act = rnn.processors[2](rnn.processors[1](rnn.processors[0](Signal(whole.samples, 44100))))
    assert activation.beat.shape == (len(act),)
    np.testing.assert_allclose(activation.downbeat, act[:, 1], atol=1e-4)


def test_a_48k_stereo_file_streams_like_the_whole_decode(tmp_path, house_track, small_blocks):
    left = resample(house_track.samples, 44100, 48000)
    path = tmp_path / "stereo48.flac"
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 48000)
    audio = stream.AudioStream(path, 44100)
    parts = [s.chunk[s.start - s.origin: s.stop - s.origin] for s in audio]
    streamed = np.concatenate(parts)
    whole = load_audio(path, 44100)
    assert (audio.info.sample_rate, audio.info.channels) == (48000, 2)
    assert len(streamed) == len(whole.samples)
    assert np.abs(streamed - whole.samples).max() < 1e-3


def test_a_long_mix_runs_the_network_in_windows_and_keeps_the_beats(house_wav, house_track,
                                                                    monkeypatch):
    monkeypatch.setattr(MadmomActivations, "window", 1500)  # 15 s windows, 5 s context
    monkeypatch.setattr(MadmomActivations, "context", 500)
    result = analyze_track(house_wav, CONFIG)
    assert beat_f(house_track.beats, result.beat_track.beats) >= 0.95


def test_windowed_beats_meet_at_the_seams():
    fps, period = 100.0, 0.47
    times = np.arange(0.3, 400.0, period)
    act = np.zeros(int(401 * fps))
    act[np.round(times * fps).astype(int)] = 1.0
    track = lambda part: np.flatnonzero(part > 0.5) / fps  # noqa: E731
    found = windowed_beats(track, act, fps, window_s=120.0, overlap_s=20.0)
    np.testing.assert_allclose(found, np.round(times * fps) / fps)


def test_a_nan_late_in_a_long_file_is_found(tmp_path, small_blocks):
    t = np.arange(44100 * 20) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    tone[44100 * 17] = np.nan
    sf.write(tmp_path / "late_nan.wav", tone, 44100, subtype="FLOAT")
    with pytest.raises(AudioNonFiniteError, match="1 samples are NaN"):
        analyze_track(tmp_path / "late_nan.wav", CONFIG)
