"""Exported encoder and denoiser against eager PyTorch, for the real-time engine."""

import numpy as np
import onnxruntime
import pytest
import torch

from conftest import tiny_diffusion_config
from tasks.config import EchelonConfig
from tasks.export import export_models
from tasks.generate import build_denoiser


def trained_looking(backbone: str):
    """The tiny denoiser with its zero-initialised output layers filled, so the output (and
    the parity check) is not trivially zero."""
    torch.manual_seed(0)
    model = build_denoiser(tiny_diffusion_config(backbone), EchelonConfig())
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.05)
    return model.eval()


@pytest.mark.parametrize("backbone, fmt", [("dit", "onnx"), ("unet", "torchscript")])
def test_export_parity(backbone, fmt, tmp_path):
    model = trained_looking(backbone)
    result = export_models(model, EchelonConfig(), tmp_path, fmt, example_latents=96)
    assert result.encoder_max_abs_diff < 1e-4 and result.denoiser_max_abs_diff < 1e-4
    null = np.load(result.null_conditioning)
    assert null.shape == (256,) and np.array_equal(null, model.null.detach().numpy())
    assert not list(tmp_path.glob(".*tmp*"))
    if fmt == "onnx":  # the time axis is dynamic: any chunk length runs
        session = onnxruntime.InferenceSession(result.denoiser, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).normal(size=(1, 16, 200)).astype(np.float32)
        out = session.run(None, {"x": x, "t": np.array([500.0], np.float32),
                                 "cond": np.zeros((1, 200, 256), np.float32)})[0]
        assert out.shape == x.shape and np.abs(out).max() > 0
