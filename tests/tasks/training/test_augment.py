"""Augmentations: seeded per sample (any thread count, the same batch), replayable from the
log, and a time-warp that keeps motion and latents aligned."""

import numpy as np
import pytest
import soundfile as sf

from tasks.config import AudioAugmentConfig, MotionAugmentConfig, MotionConfig
from tasks.motion.recording import Performance
from tasks.training.audio_crops import AudioCrops
from tasks.training.augment import (AudioAugment, MotionAugment, audio_batch, motion_crop_batch,
                                    replay_audio, replay_motion)
from tasks.training.latent_pairs import LatentCrops, LatentPair

RATE, LATENT_RATE = 30.0, 120.0
EVENT_S = 6.0  # recording time of the step in the motion (audio time 6.0 − 2.0 = 4.0 s)
OFFSET_S = -2.0


@pytest.fixture()
def crops(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, level in enumerate((0.5, 0.01, 0.0)):  # loud, quiet, silent
        path = tmp_path / f"t{i}.wav"
        sf.write(path, level * rng.standard_normal(22050 * 3), 22050)
        paths.append(str(path))
    return AudioCrops(paths, 22050, 4096)


def test_audio_batch_is_the_same_on_any_worker_count_and_replays_from_its_log(crops):
    config = AudioAugmentConfig()
    one, params = audio_batch(crops, config, seed=3, epoch=7, size=6)
    three, _ = audio_batch(crops, replace_config(config, workers=3), seed=3, epoch=7, size=6)
    assert one.tobytes() == three.tobytes()
    assert not np.array_equal(one, audio_batch(crops, config, seed=3, epoch=8, size=6)[0])
    logged = [AudioAugment(**vars(p)) for p in params]
    for row, p in zip(one, logged):
        assert replay_audio(crops, p).tobytes() == row.tobytes()
        level = 10 * np.log10(np.mean(row.astype(np.float64) ** 2) + 1e-12) - p.gain_db
        if crops.sources[p.source].path.endswith("t2.wav"):
            assert not row.any()  # silence is not raised into anything
        elif p.level_db < config.max_boost_db:
            assert level == pytest.approx(config.loudness_db, abs=0.01)
    assert {p.polarity for p in params} <= {1, -1}


def replace_config(config, **changes):
    return config.model_copy(update=changes)


def performance(n_frames: int = 400) -> Performance:
    """Two phones; every value of phone 0 steps from 0 to 1 at EVENT_S."""
    t = 1.0 + np.arange(n_frames) / RATE
    frames = np.zeros((n_frames, 2, 25), np.float32)
    frames[t >= EVENT_S, 0] = 1.0
    frames[:, 1] = np.sin(t)[:, None]
    return Performance("p", RATE, 1.0, frames, np.ones((n_frames, 2), bool),
                       np.zeros(n_frames, np.int32), ("a",))


def latent_crops(crop_latents: int = 240, seconds: float = 10.0) -> LatentCrops:
    """(4, L) latents that step from 0 to 1 at the audio time of the motion's step."""
    latents = np.zeros((4, int(seconds * LATENT_RATE)), np.float32)
    latents[:, int(round((EVENT_S + OFFSET_S) * LATENT_RATE)):] = 1.0
    pairs = [LatentPair(f"p{i}", latents, performance(), OFFSET_S, LATENT_RATE) for i in range(2)]
    return LatentCrops(pairs, crop_latents, MotionConfig())


def test_motion_batch_is_the_same_on_any_worker_count_and_replays_from_its_log():
    crops, config = latent_crops(), MotionAugmentConfig(drop_phone=0.5)
    latents, motion, params = motion_crop_batch(crops, config, 1, 4, size=6)
    again, motion3, _ = motion_crop_batch(crops, replace_config(config, workers=3), 1, 4, size=6)
    assert latents.numpy().tobytes() == again.numpy().tobytes()
    assert motion.windows.numpy().tobytes() == motion3.windows.numpy().tobytes()
    assert {p.dropped for p in params} > {-1}  # some rows lose a phone …
    for row, p in enumerate(params):
        assert motion.present[row, :, p.dropped].any() == (p.dropped == -1)  # … and only those
        lat, inputs, frame_of_latent = replay_motion(crops, MotionAugment(**vars(p)))
        assert lat.tobytes() == latents[row].numpy().tobytes()
        assert inputs.windows.tobytes() == motion.windows[row].numpy().tobytes()
        assert np.array_equal(frame_of_latent, motion.frame_of_latent[row].numpy())


@pytest.mark.parametrize("warp", [0.93, 1.0, 1.06])
def test_a_motion_event_lands_on_the_latent_frame_of_its_warped_time(warp):
    crops = latent_crops()
    start = int(round((EVENT_S + OFFSET_S - 1.0) * LATENT_RATE))  # the step 1 s into the crop
    latents, inputs, frame_of_latent = replay_motion(
        crops, MotionAugment(0, start, warp, 0.0, 0, -1))
    latent_step = int(np.argmax(latents[0] > 0.5))  # where the warped latents step
    assert latent_step == pytest.approx(1.0 * LATENT_RATE / warp, abs=1)
    current = inputs.windows[:, 0, MotionConfig().window_past, 0]  # phone 0, each frame's own
    motion_step = int(np.argmax(current > 0.5))  # the first stretched frame past the step
    conditioned = np.flatnonzero(frame_of_latent >= motion_step)[0]
    # the latent frames the step's motion frame conditions begin within a motion frame of it
    assert abs(conditioned - latent_step) <= LATENT_RATE / RATE


def test_a_warp_too_long_for_a_short_pair_is_shrunk_to_fit():
    crops = latent_crops(crop_latents=680, seconds=6.0)  # 720 latent frames: room for 1.06×
    first, last = crops.spans[0]
    _, _, params = motion_crop_batch(crops, MotionAugmentConfig(warp=0.4), 0, 0, size=8)
    assert max(p.warp for p in params) == pytest.approx((last - first - 1) / 679)
    for p in params:
        assert p.start >= first and p.start + round((680 - 1) * p.warp) < last
