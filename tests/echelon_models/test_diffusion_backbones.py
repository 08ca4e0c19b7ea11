"""Both backbones behind one denoiser: any length in, same length out; guidance; the null row."""

import pytest
import torch

from echelon_models.conditioning import EchelonEncoder
from echelon_models.diffusion import (DDIMSampler, DiT1d, MotionBatch, MotionConditionedDenoiser,
                                      NoiseSchedule, UNet1d, guided, sample)


def backbone(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "unet":
        return UNet1d(16, 256, base_channels=16, heads=2, res_blocks=1)
    return DiT1d(16, 256, width=32, depth=2, heads=2, patch=4)


@pytest.mark.parametrize("kind", ["unet", "dit"])
@pytest.mark.parametrize("length", [1, 7, 33, 64, 101])
def test_output_shape_for_odd_lengths(kind, length):
    net = backbone(kind)
    x = torch.randn(2, 16, length)
    out = net(x, torch.tensor([3.0, 900.0]), torch.randn(2, length, 256))
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_conditioning_and_time_reach_the_output(kind):
    net = backbone(kind)
    for p in net.parameters():  # leave the zero-initialised start: perturb every weight
        p.data.add_(0.05 * torch.randn_like(p))
    x, cond = torch.randn(1, 16, 40), torch.randn(1, 40, 256)
    base = net(x, torch.tensor([500.0]), cond)
    assert not torch.allclose(base, net(x, torch.tensor([100.0]), cond))
    assert not torch.allclose(base, net(x, torch.tensor([500.0]), cond + 1))
    local = cond.clone()
    local[:, 30:] += 3.0  # changing late conditioning changes late frames most
    change = (net(x, torch.tensor([500.0]), local) - base).abs().mean(dim=1)[0]
    assert change[30:].mean() > change[:10].mean()


def motion(B: int = 2, N: int = 4, T: int = 24) -> MotionBatch:
    g = torch.Generator().manual_seed(1)
    return MotionBatch(torch.randn(B, N, 2, 46, 25, generator=g), torch.ones(B, N, 2, dtype=torch.bool),
                       torch.zeros(B, N, 46), torch.randint(0, N, (B, T), generator=g))


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = MotionConditionedDenoiser(backbone("dit"), EchelonEncoder()).eval()
    for p in m.backbone.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    m.null.data.normal_()
    return m


def test_encode_motion_gathers_one_vector_per_latent(model):
    batch = motion()
    cond = model.encode_motion(batch)
    frames = model.encoder(batch.windows, batch.present, batch.transitions)
    assert cond.shape == (2, 24, 256)
    assert torch.equal(cond[1, 5], frames[1, batch.frame_of_latent[1, 5]])


def test_dropped_rows_equal_the_unconditional_model(model):
    x, t = torch.randn(2, 16, 24), torch.tensor([10.0, 10.0])
    cond = model.encode_motion(motion())
    dropped = model(x, t, cond, drop=torch.tensor([True, False]))
    assert torch.allclose(dropped[0], model(x, t, None)[0])
    assert torch.allclose(dropped[1], model(x, t, cond)[1])


def test_guidance_scale_one_is_the_conditional_model(model):
    x, t = torch.randn(2, 16, 24), torch.tensor([400.0])
    cond = model.encode_motion(motion())
    with torch.no_grad():
        assert torch.equal(guided(model, cond, 1.0)(x, t), model(x, t.expand(2), cond))
        strong = guided(model, cond, 3.0)(x, t)
        conditional, unconditional = model(x, t.expand(2), cond), model(x, t.expand(2), None)
    torch.testing.assert_close(strong, unconditional + 3.0 * (conditional - unconditional),
                               atol=1e-5, rtol=1e-5)


def test_sampling_is_deterministic_with_ddim(model):
    cond = model.encode_motion(motion())
    noise = torch.randn(2, 16, 24, generator=torch.Generator().manual_seed(0))
    runs = [sample(guided(model, cond, 2.0), DDIMSampler(NoiseSchedule(), steps=5), noise)
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1]) and runs[0].shape == (2, 16, 24)
