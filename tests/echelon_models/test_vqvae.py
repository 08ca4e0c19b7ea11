"""The VQ-VAE: latent rate, shapes, the EMA codebook, and the losses."""

import math

import pytest
import torch

from echelon_models.vqvae import VQVAE, EMACodebook, MelDistance, ReconstructionLoss, si_sdr
from tasks.config import CONFIG_DIR, load_vqvae_config
from tasks.models.builders import build_vqvae


def tiny() -> VQVAE:
    torch.manual_seed(0)
    return build_vqvae(load_vqvae_config(CONFIG_DIR / "tiny" / "vqvae.yaml").model)


def test_full_size_model_makes_689_codes_per_second():
    model = build_vqvae(load_vqvae_config().model).eval()
    assert model.hop == 64 and model.quantizer.embed.shape == (2048, 64)
    codes = model.encode(torch.zeros(1, 44100) + 0.01)
    assert abs(codes.shape[1] - 689) <= 1
    assert model.codes_per_second == pytest.approx(689.0625)


def test_encode_decode_shapes_and_dtypes():
    model = tiny().eval()
    wave = torch.randn(2, 1, 10_000) * 0.1  # not a multiple of the hop
    codes = model.encode(wave)
    assert codes.shape == (2, math.ceil(10_000 / 64)) and codes.dtype == torch.int64
    assert int(codes.max()) < model.quantizer.size
    out = model.decode(codes)
    assert out.shape == (2, 1, codes.shape[1] * 64) and out.dtype == torch.float32
    full = model(wave)
    assert full.wave.shape == (2, 1, codes.shape[1] * 64)
    assert torch.equal(full.quantized.codes, codes)  # eval forward = encode


@pytest.mark.parametrize("strides", [(4, 4, 4), (2, 4, 8), (5, 3, 2)])
def test_any_strides_give_exact_lengths(strides):
    model = VQVAE(channels=4, strides=strides, codebook_size=16, codebook_dim=8).eval()
    hop = math.prod(strides)
    codes = model.encode(torch.randn(1, 7 * hop + 3))
    assert codes.shape == (1, 8)
    assert model.decode(codes).shape == (1, 1, 8 * hop)


def test_straight_through_gradients_reach_the_encoder():
    model = tiny().train()
    out = model(torch.randn(2, 1, 2048) * 0.1)
    (out.wave.pow(2).mean() + out.quantized.penalty).backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    assert not any(p.requires_grad for p in model.quantizer.buffers())


def test_ema_codebook_moves_to_the_data_and_restarts_dead_codes():
    torch.manual_seed(0)
    book = EMACodebook(size=8, dim=2, decay=0.5, dead_code_threshold=0.5).train()
    centers = torch.tensor([[5.0, 5.0], [-5.0, 5.0]])
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        pick = torch.randint(2, (256,), generator=g)
        x = (centers[pick] + 0.1 * torch.randn(256, 2, generator=g)).t().unsqueeze(0)  # (1, 2, 256)
        result = book(x, g)
    # every code ends on data: near one of the two clusters, none left where it started
    distance = torch.cdist(book.embed, centers).min(dim=1).values
    assert float(distance.max()) < 1.0
    assert result.codes.shape == (1, 256) and result.penalty.item() < 0.05
    assert 1.5 < float(result.metrics["perplexity"]) <= 8


def test_quantizer_commitment_and_metrics():
    book = EMACodebook(size=4, dim=3, commitment=0.5).eval()
    x = book.embed[[0, 1, 2, 1]].t().unsqueeze(0) + 0.1  # (1, 3, 4): 0.1 off codes 0, 1, 2, 1
    result = book(x)
    assert result.codes.tolist() == [[0, 1, 2, 1]]
    assert result.penalty.item() == pytest.approx(0.5 * 0.01, rel=1e-4)
    assert float(result.metrics["usage"]) == 0.75


def test_si_sdr_of_known_noise():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(1, 44100, generator=g)
    noise = torch.randn(1, 44100, generator=g)
    noise = noise - (noise * ref).sum() / (ref * ref).sum() * ref  # orthogonal to ref
    noise = noise / noise.norm() * ref.norm() / math.sqrt(10)  # 10 dB below
    assert si_sdr(ref + noise, ref).item() == pytest.approx(10.0, abs=0.01)
    assert si_sdr(3 * ref, ref).item() > 60  # scale does not matter


def test_losses_are_zero_on_identity_and_grow_with_distortion():
    g = torch.Generator().manual_seed(1)
    wave = torch.randn(2, 1, 8192, generator=g) * 0.1
    loss = ReconstructionLoss()
    same, _ = loss(wave, wave)
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    slight, _ = loss(wave + 0.01 * torch.randn(wave.shape, generator=g), wave)
    heavy, parts = loss(wave + 0.1 * torch.randn(wave.shape, generator=g), wave)
    assert 0 < slight.item() < heavy.item()
    assert set(parts) == {"stft", "mel", "waveform"}
    mel = MelDistance()
    assert mel(wave, wave).item() == 0.0
