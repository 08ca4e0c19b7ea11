"""The conditioning encoder over a whole recording."""

import numpy as np
import torch

from synthetic.performances import PhoneFaults, dance, write_performance
from tasks.models.builders import build_encoder
from tasks.motion.conditioning import encode_performance
from tasks.motion.recording import load_performance


def test_encode_performance_in_chunks_matches_one_pass(house_track, tmp_path):
    path = write_performance(dance(house_track, np.random.default_rng(0),
                                   faults=PhoneFaults(device1_stops_at=0.5)), tmp_path / "p.parquet")
    performance = load_performance(path)
    encoder = build_encoder()
    whole = encode_performance(encoder, performance)
    chunked = encode_performance(encoder, performance, chunk=97)
    assert whole.shape == (performance.n_frames, 256)
    np.testing.assert_allclose(whole, chunked, atol=1e-5)
    assert np.isfinite(whole).all()


def test_build_encoder_is_seeded():
    a, b = build_encoder(seed=5), build_encoder(seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
