"""The mapper's tower and loss: unit outputs, whitened inputs, false negatives masked."""

import torch

from echelon_models.mapper import MotionTower, symmetric_info_nce


def test_tower_whitens_its_inputs_and_returns_unit_vectors():
    torch.manual_seed(0)
    steps = torch.randn(40, 16, 30) * torch.linspace(0.1, 10, 30) + 5  # (N, S, F)
    tower = MotionTower(30, 12, hidden=16, extra=2, components=4)
    tower.fit_inputs(steps)
    x = tower.inputs(steps).reshape(-1, 6)
    assert torch.allclose(x.mean(dim=0), torch.zeros(6), atol=1e-4)
    assert torch.allclose(x.std(dim=0), torch.ones(6), atol=1e-3)
    out = tower(steps[:5])
    assert out.shape == (5, 12) and torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)


def test_a_phrase_that_sounds_the_same_is_no_negative():
    phrases = torch.nn.functional.normalize(torch.eye(4, 8) + 0.01, dim=1)
    phrases[1] = phrases[0]  # one phrase danced twice (or two drops alike)
    motion = phrases.clone()  # each motion points exactly at its phrase
    masked = symmetric_info_nce(motion, phrases, torch.tensor(20.0), same_above=0.9)
    unmasked = symmetric_info_nce(motion, phrases, torch.tensor(20.0), same_above=1.01)
    # unmasked, rows 0 and 1 can do no better than a coin toss between two equal phrases
    assert unmasked > 0.3 > masked and torch.isfinite(masked)
