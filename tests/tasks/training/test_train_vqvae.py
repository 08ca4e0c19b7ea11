"""VQ-VAE training: it learns, it resumes on the same curve, it stops cleanly on NaN."""

import numpy as np
import pytest
import torch
from conftest import tiny_vqvae_config

import tasks.training.vqvae as training
from storage.checkpoints import CheckpointError, load_checkpoint
from tasks.config import AudioAugmentConfig
from tasks.models.builders import load_vqvae
from tasks.training.common import TrainingDiverged, held_out_split, warmup_cosine
from tasks.training.vqvae import train_vqvae


def test_training_lowers_validation_mel_distance_by_a_third(trained_vqvae):
    first, last = trained_vqvae.validations[0], trained_vqvae.validations[-1]
    assert first.step == 0 and last.step == 100
    assert last.mel_distance <= 0.7 * first.mel_distance, (first, last)
    assert last.si_sdr > first.si_sdr
    assert last.codebook_usage > first.codebook_usage
    summary = trained_vqvae.summary()
    assert set(summary) == {"checkpoint", "steps", "val_mel_distance", "val_si_sdr",
                            "codebook_usage"}


def test_checkpoint_loads_with_weights_only(trained_vqvae):
    state = load_checkpoint(trained_vqvae.checkpoint, "vqvae")
    assert state["step"] == 100 and len(state["history"]) == 100
    model, version = load_vqvae(trained_vqvae.checkpoint)
    assert not model.training and len(version) == 12


def test_resumed_run_reproduces_the_uninterrupted_curve(short_library, tmp_path):
    """… with augmentation on, whose log beside the checkpoint holds each step once."""
    cfg = tiny_vqvae_config(steps=12, val_every=6, checkpoint_every=6, batch_size=2, crop_s=0.25,
                            augment=AudioAugmentConfig())
    train, val = [str(p) for p in short_library[:2]], [str(short_library[2])]
    whole = train_vqvae(cfg, train, val, tmp_path / "whole")
    first = train_vqvae(cfg, train, val, tmp_path / "split", max_steps=5)
    assert first.steps == 5
    resumed = train_vqvae(cfg, train, val, tmp_path / "split")
    assert resumed.steps == 12
    np.testing.assert_allclose([h["loss"] for h in resumed.history],
                               [h["loss"] for h in whole.history], rtol=1e-5)
    assert [v.step for v in resumed.validations] == [0, 5, 6, 12]
    logs = [(tmp_path / run / "augmentations.jsonl").read_text() for run in ("whole", "split")]
    assert logs[0] == logs[1] and logs[0].count("\n") == 12
    a = load_checkpoint(tmp_path / "whole" / "vqvae.pt", "vqvae")["model"]
    b = load_checkpoint(tmp_path / "split" / "vqvae.pt", "vqvae")["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(short_library, tmp_path, monkeypatch):
    cfg = tiny_vqvae_config(steps=10, checkpoint_every=3, val_every=100, batch_size=2,
                            crop_s=0.25)
    train, val = [str(p) for p in short_library[:2]], [str(short_library[2])]
    real = training.ReconstructionLoss.forward
    calls = {"n": 0}

    def poisoned(self, estimate, target):
        calls["n"] += 1
        total, parts = real(self, estimate, target)
        return (total * float("nan") if calls["n"] == 5 else total), parts

    monkeypatch.setattr(training.ReconstructionLoss, "forward", poisoned)
    with pytest.raises(TrainingDiverged, match="step 5: the loss became NaN") as caught:
        train_vqvae(cfg, train, val, tmp_path)
    assert "last good checkpoint" in str(caught.value)
    assert load_checkpoint(tmp_path / "vqvae.pt", "vqvae")["step"] == 3


@pytest.mark.parametrize("write, message", [
    (lambda p: p.write_bytes(b"definitely not a checkpoint"), "not a readable checkpoint"),
    (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    (lambda p: torch.save({"kind": "diffusion"}, p), "expected a vqvae checkpoint"),
    (lambda p: torch.save({"kind": "vqvae", "model_config": {}, "model": {}, "version": "x"}, p),
     "does not match its model"),
    (lambda p: None, "does not exist"),
])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, write, message):
    path = tmp_path / "vqvae.pt"
    write(path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_vqvae(path)
    assert str(path) in str(caught.value)


def test_truncated_checkpoint_is_a_clear_error(trained_vqvae, tmp_path):
    data = trained_vqvae.checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_vqvae(path)


def test_resume_refuses_another_model_config(short_library, tmp_path, trained_vqvae):
    import shutil

    shutil.copy(trained_vqvae.checkpoint, tmp_path / "vqvae.pt")
    cfg = tiny_vqvae_config()
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"channels": 4})})
    with pytest.raises(CheckpointError, match="another model config"):
        train_vqvae(cfg, [str(short_library[0])], [str(short_library[1])], tmp_path)


def test_schedule_and_split():
    assert warmup_cosine(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(100, 10, 100) == pytest.approx(0.1)
    train, val = held_out_split([("a", "3"), ("b", "1"), ("c", "2")], 0.34)
    assert val == ["b"] and train == ["a", "c"]
    with pytest.raises(ValueError, match="at least 2"):
        held_out_split([("a", "1")], 0.1)
