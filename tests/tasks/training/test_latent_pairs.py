"""Motion-audio pairs: the manifest round-trips, crops align, short motion trims the pair."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from storage.pair_manifest import MotionAudioPair, read_pairs, write_pairs
from tasks.config import MotionConfig, VQVAEModelConfig
from tasks.motion.recording import Z_COLUMNS, load_performance
from tasks.motion.windows import motion_for_latents
from tasks.training.latent_pairs import LatentCrops, LatentPair

LATENT_RATE_HZ = VQVAEModelConfig().latent_rate

EVENT_S = 104.3  # recording time of the step in the motion; audio time 4.3 s


@pytest.fixture()
def pair(tmp_path):
    sr = 44100
    t_audio = np.arange(10 * sr) / sr
    sf.write(tmp_path / "track.wav", 0.3 * np.sin(2 * np.pi * 220 * t_audio), sr)
    t = 101.0 + np.arange(int(6.0 * 60)) / 60  # motion covers audio 1.0 … 7.0 s only
    rows = {"t": np.repeat(t, 2), "device": np.tile([0, 1], len(t))}
    step = (np.repeat(t, 2) >= EVENT_S).astype(float)
    rows.update({c: step * (k + 1) for k, c in enumerate(Z_COLUMNS)})
    pq.write_table(pa.table(rows), tmp_path / "motion.parquet")
    return MotionAudioPair("p1", "hash1", "track.wav", "motion.parquet", offset_s=-100.0)


def test_manifest_round_trip_resolves_relative_paths(tmp_path, pair):
    other = MotionAudioPair("p0", "hash0", "/abs/a.wav", "/abs/a.csv", 2.5)
    path = write_pairs([pair, other], tmp_path / "pairs.parquet")
    first = path.read_bytes()
    write_pairs([other, pair], path)
    assert path.read_bytes() == first  # sorted by id: the same manifest whatever the order
    loaded = read_pairs(path)
    assert [p.pair_id for p in loaded] == ["p0", "p1"]
    assert loaded[1].audio_path == str(tmp_path / "track.wav")
    assert loaded[0].offset_s == 2.5
    with pytest.raises(ValueError, match="unique"):
        write_pairs([pair, pair], tmp_path / "dup.parquet")


def latent_pair(tmp_path, pair) -> LatentPair:
    """The pair's track as 10 s of (4, L) latents, with its motion."""
    latents = np.zeros((4, int(10 * LATENT_RATE_HZ)), np.float32)
    return LatentPair(pair.pair_id, latents, load_performance(tmp_path / pair.motion_path),
                      pair.offset_s, LATENT_RATE_HZ)


def test_motion_shorter_than_audio_trims_the_pair(tmp_path, pair):
    first, last = latent_pair(tmp_path, pair).usable()
    last_sample = 7.0 - 1 / 60  # audio time of the recording's last sample
    assert first / LATENT_RATE_HZ == pytest.approx(1.0, abs=1 / LATENT_RATE_HZ)
    assert last_sample - 1 / 30 < (last - 1) / LATENT_RATE_HZ <= last_sample  # its last 30 Hz frame
    crops = LatentCrops([latent_pair(tmp_path, pair)], int(LATENT_RATE_HZ), MotionConfig())
    assert crops.spans == [(first, last)]  # nothing past the motion is ever cropped


def test_a_motion_event_lands_on_the_latent_frame_of_its_time(tmp_path, pair):
    latent = latent_pair(tmp_path, pair)
    audio_start_s = 4.0
    inputs, frame_of_latent = motion_for_latents(
        latent.performance, audio_start_s - latent.offset_s, 689, MotionConfig(), LATENT_RATE_HZ)
    assert inputs.windows.shape[1:] == (2, 46, 25) and frame_of_latent.shape == (689,)
    current = inputs.windows[frame_of_latent, 0, 30, 0]  # z0 of each latent
    first_moving = int(np.argmax(current > 0.5))
    event_latent = (4.3 - audio_start_s) * LATENT_RATE_HZ
    # within one motion frame (1/30 s ≈ 23 latent frames) of where the event happened
    assert abs(first_moving - event_latent) <= LATENT_RATE_HZ / 30


def test_crops_stay_inside_the_usable_span(tmp_path, pair):
    latent = latent_pair(tmp_path, pair)
    crop = int(0.5 * LATENT_RATE_HZ)
    crops = LatentCrops([latent], crop, MotionConfig())
    first, last = latent.usable()
    latents, motion = crops.batch(np.random.default_rng(0), 20)
    assert latents.shape == (20, 4, crop) and motion.frame_of_latent.shape == (20, crop)
    fixed, _ = crops.fixed(5)
    assert fixed.shape == (5, 4, crop)
    assert 1.0 - 1e-3 <= first / LATENT_RATE_HZ and (last - crop) / LATENT_RATE_HZ <= 7.0 - 0.5
    with pytest.raises(ValueError, match="no pair has"):
        LatentCrops([latent], int(30 * LATENT_RATE_HZ), MotionConfig())


def test_coded_latents_and_mapped_motion_read_as_the_dense_arrays(tmp_path, pair):
    """Training streams: latents are made from codes per crop, motion is read from a
    memory-mapped file; what a crop sees is exactly what the dense arrays held."""
    from storage.token_store import TokenSequence
    from tasks.training.latent_pairs import latents_of, map_motion

    rng = np.random.default_rng(0)
    codebook = rng.normal(size=(32, 4)).astype(np.float32)
    codes = rng.integers(0, 32, 6890).astype(np.int16)
    coded = latents_of(TokenSequence("h", "t.wav", codes, "v", 6890 * 64, 44100), codebook, 2.0)
    dense = (codebook[codes.astype(np.int64)].T * 2.0).astype(np.float32)
    assert coded.shape == dense.shape
    np.testing.assert_array_equal(coded[:, 100:400], dense[:, 100:400])
    np.testing.assert_array_equal(np.asarray(coded), dense)

    performance = load_performance(tmp_path / pair.motion_path)
    mapped = map_motion(performance, tmp_path / "cache")
    assert isinstance(latents_of(TokenSequence("h", "t", codes, "v", 1, 1), codebook, 2.0,
                                 tmp_path / "codes").codes, np.memmap)
    assert isinstance(mapped.frames, np.memmap)
    np.testing.assert_array_equal(mapped.frames, performance.frames)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    map_motion(performance, tmp_path / "cache")  # the same content: the same file, written once
    assert len(list((tmp_path / "cache").iterdir())) == 1
    plain = LatentCrops([LatentPair("p", dense, performance, pair.offset_s, LATENT_RATE_HZ)],
                        200, MotionConfig())
    streamed = LatentCrops([LatentPair("p", coded, mapped, pair.offset_s, LATENT_RATE_HZ)],
                           200, MotionConfig())
    (a, motion_a), (b, motion_b) = plain.fixed(3), streamed.fixed(3)
    assert torch.equal(a, b) and torch.equal(motion_a.windows, motion_b.windows)
