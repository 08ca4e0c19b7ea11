"""Diffusion training: it overfits a tiny set, resumes on the same curve, stops cleanly on NaN."""

import numpy as np
import pytest
import torch
from conftest import latent_pair, tiny_diffusion_config

import tasks.training.diffusion as training
from storage.checkpoints import load_checkpoint
from tasks.config import EchelonConfig, MotionAugmentConfig
from tasks.models.builders import load_diffusion
from tasks.training.common import TrainingDiverged
from tasks.training.diffusion import train_diffusion


def test_tiny_config_overfits_a_small_latent_set(tmp_path):
    # a long schedule, a short budget: the learning rate stays near its peak for the test
    cfg = tiny_diffusion_config(steps=2000, crop_latents=64, val_every=10_000, val_renders=0)
    result = train_diffusion(cfg, EchelonConfig(), [latent_pair(0)], [latent_pair(1)], tmp_path,
                             max_steps=260)
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[:10]) >= 3 * np.mean(losses[-10:]), (losses[:10], losses[-10:])


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    """… with augmentation on: the resumed run draws the same warps, noise and dropped phones,
    and the log beside the checkpoint holds each step once."""
    cfg = tiny_diffusion_config("dit", steps=12, crop_latents=32, val_every=6,
                                checkpoint_every=6, grad_accum=2, batch_size=4, val_renders=1,
                                augment=MotionAugmentConfig())
    pairs = [latent_pair(i) for i in range(3)]
    renders = []
    whole = train_diffusion(cfg, EchelonConfig(), pairs[:2], pairs[2:], tmp_path / "whole",
                            on_render=lambda step, latents: renders.append((step, latents.shape)))
    train_diffusion(cfg, EchelonConfig(), pairs[:2], pairs[2:], tmp_path / "split", max_steps=5)
    resumed = train_diffusion(cfg, EchelonConfig(), pairs[:2], pairs[2:], tmp_path / "split")
    np.testing.assert_allclose([h["loss"] for h in resumed.history],
                               [h["loss"] for h in whole.history], rtol=1e-5)
    assert [v.step for v in resumed.validations] == [0, 5, 6, 12]
    assert renders == [(0, (1, 16, 32)), (6, (1, 16, 32)), (12, (1, 16, 32))]
    logs = [(tmp_path / run / "augmentations.jsonl").read_text() for run in ("whole", "split")]
    assert logs[0] == logs[1] and logs[0].count("\n") == 12
    assert logs[0].splitlines()[0].count('"warp"') == 8  # 2 batches of 4 per step
    a = load_checkpoint(tmp_path / "whole" / "diffusion.pt", "diffusion")["ema"]
    b = load_checkpoint(tmp_path / "split" / "diffusion.pt", "diffusion")["ema"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    levels = whole.validations[-1].by_level
    assert len(levels) == 5 and whole.summary()["val_loss"] > 0
    # adaLN-zero: the DiT starts as the zero function, so the motion cannot matter yet
    assert whole.validations[0].motion_gain == 0.0
    assert all(np.isfinite(v.motion_gain) for v in whole.validations)



def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_diffusion_config("dit", steps=10, crop_latents=32, checkpoint_every=2,
                                val_every=100, batch_size=2, val_renders=0)
    real = training._loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 4 else loss

    monkeypatch.setattr(training, "_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="step 4: the loss became NaN"):
        train_diffusion(cfg, EchelonConfig(), [latent_pair(0)], [latent_pair(1)], tmp_path)
    assert load_checkpoint(tmp_path / "diffusion.pt", "diffusion")["step"] == 2


def test_checkpoint_loads_the_ema_model_with_its_configs(tmp_path):
    cfg = tiny_diffusion_config("dit", steps=2, crop_latents=32, val_renders=0)
    train_diffusion(cfg, EchelonConfig(), [latent_pair(0)], [latent_pair(1)], tmp_path,
                    extra_state={"latent_scale": 2.5, "vqvae_version": "abc"})
    model, config, echelon, state = load_diffusion(tmp_path / "diffusion.pt")
    assert not model.training and config == cfg and echelon == EchelonConfig()
    assert state["latent_scale"] == 2.5 and state["vqvae_version"] == "abc"


def test_flow_matching_objective_trains_too(tmp_path):
    cfg = tiny_diffusion_config("dit", steps=30, crop_latents=32, val_every=30, val_renders=1)
    cfg = cfg.model_copy(update={
        "noise": cfg.noise.model_copy(update={"objective": "flow_matching"}),
        "sampler": cfg.sampler.model_copy(update={"kind": "heun", "steps": 4})})
    rendered = []
    result = train_diffusion(cfg, EchelonConfig(), [latent_pair(0)], [latent_pair(1)], tmp_path,
                             on_render=lambda step, latents: rendered.append(latents))
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert rendered[-1].shape == (1, 16, 32) and torch.isfinite(rendered[-1]).all()
