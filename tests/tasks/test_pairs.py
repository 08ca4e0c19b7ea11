"""Motion-audio pairs: the manifest round-trips, crops align, short motion trims the pair."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from storage.pair_manifest import MotionAudioPair, read_pairs, write_pairs
from tasks.motion import Z_COLUMNS
from tasks.motion_windows import LATENT_RATE_HZ
from tasks.pairs import PairDataset

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


def test_motion_shorter_than_audio_trims_the_pair(tmp_path, pair):
    dataset = PairDataset(read_pairs(write_pairs([pair], tmp_path / "pairs.parquet")), crop_s=1.0)
    span = dataset.spans[0]
    last_sample = 7.0 - 1 / 60  # audio time of the recording's last sample
    assert span.start_s == pytest.approx(1.0)
    assert last_sample - 1 / 30 < span.end_s <= last_sample  # its last whole 30 Hz frame
    assert len(dataset) == 5  # five whole 1 s crops in 5.98 s; nothing past the motion
    assert all(start + dataset.crop_s <= span.end_s + 1e-9 for _, start in dataset.index)


def test_a_motion_event_lands_on_the_latent_frame_of_its_time(tmp_path, pair):
    dataset = PairDataset(read_pairs(write_pairs([pair], tmp_path / "pairs.parquet")), crop_s=1.0)
    example = next(dataset[i] for i in range(len(dataset))
                   if dataset[i].audio_start_s <= 4.3 < dataset[i].audio_start_s + 1.0)
    assert example.audio.shape == (example.n_latents * 64,) and example.audio.dtype == np.float32
    assert example.n_latents == 689
    current = example.inputs.windows[example.frame_of_latent, 0, 30, 0]  # z0 of each latent
    first_moving = int(np.argmax(current > 0.5))
    event_latent = (4.3 - example.audio_start_s) * LATENT_RATE_HZ
    # within one motion frame (1/30 s ≈ 23 latent frames) of where the event happened
    assert abs(first_moving - event_latent) <= LATENT_RATE_HZ / 30


def test_random_crops_stay_inside_the_usable_span(tmp_path, pair):
    dataset = PairDataset([read_pairs(write_pairs([pair], tmp_path / "m.parquet"))[0]], crop_s=0.5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        example = dataset.random_crop(rng)
        assert 1.0 - 1e-4 <= example.audio_start_s <= 7.0 - 0.5
        assert len(example.audio) == dataset.n_latents * 64
    with pytest.raises(ValueError, match="no pair has"):
        PairDataset(dataset.pairs, crop_s=30.0).random_crop(rng)
