"""The Echelon conditioning encoder: shape, determinism, devices, monitoring statistics."""

import pytest
import torch

from echelon_models.conditioning import EchelonEncoder, embedding_stats


def inputs(B=2, T=7, D=2, W=46, C=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    windows = torch.randn(B, T, D, W, C, generator=g)
    present = torch.ones(B, T, D, dtype=torch.bool)
    transitions = torch.zeros(B, T, W)
    return windows, present, transitions


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return EchelonEncoder().eval()


def test_output_shape(encoder):
    out = encoder(*inputs(B=3, T=11))
    assert out.shape == (3, 11, 256) and out.dtype == torch.float32


def test_deterministic_and_independent_of_the_batch(encoder):
    windows, present, transitions = inputs(B=4, T=5)
    with torch.no_grad():
        full = encoder(windows, present, transitions)
        again = encoder(windows, present, transitions)
        one = encoder(windows[2:3, 1:4], present[2:3, 1:4], transitions[2:3, 1:4])
    assert torch.equal(full, again)
    torch.testing.assert_close(one, full[2:3, 1:4], atol=1e-5, rtol=1e-5)


def test_absent_device_does_not_count(encoder):
    windows, present, transitions = inputs(B=1, T=3)
    present[:, :, 1] = False
    with torch.no_grad():
        base = encoder(windows, present, transitions)
        windows[:, :, 1] = 1e3  # whatever an absent phone's slot holds is ignored
        changed = encoder(windows, present, transitions)
    torch.testing.assert_close(base, changed)


def test_no_device_gives_the_no_motion_vector(encoder):
    windows, present, transitions = inputs(B=1, T=2)
    present[:] = False
    out = encoder(windows, present, transitions)
    torch.testing.assert_close(out[0, 0], encoder.no_motion)


def test_devices_and_transitions_change_the_output(encoder):
    windows, present, transitions = inputs(B=1, T=1)
    swapped = windows.flip(2)  # same motion, other phone
    only0 = present.clone()
    only0[..., 1] = False
    with torch.no_grad():
        a = encoder(windows[:, :, :1].expand(-1, -1, 2, -1, -1).contiguous(), only0, transitions)
        b = encoder(swapped[:, :, 1:].expand(-1, -1, 2, -1, -1).contiguous(), only0, transitions)
        marked = transitions.clone()
        marked[..., 30] = 1
        c = encoder(windows, present, marked)
        d = encoder(windows, present, transitions)
    torch.testing.assert_close(a, b)  # identical windows, identical device → identical output
    assert not torch.allclose(c, d)


def test_gradients_reach_every_branch(encoder):
    model = EchelonEncoder().train()
    out = model(*inputs(B=1, T=3))
    out.pow(2).mean().backward()
    for name in ("trajectory", "dynamics", "transition", "device", "fuse"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name


def test_embedding_stats():
    x = torch.tensor([[1.0, 3.0], [float("nan"), 5.0]])
    stats = embedding_stats(x)
    assert stats["nan_count"] == 1
    assert stats["mean"] == pytest.approx(3.0) and stats["std"] == pytest.approx(2.0)


def test_window_must_hold_the_current_frame():
    with pytest.raises(ValueError, match="past"):
        EchelonEncoder(window=10, past=10)
