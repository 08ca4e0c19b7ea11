"""Exported encoder, denoiser and decoder against eager PyTorch, for the real-time engine."""

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import tiny_diffusion_config, tiny_vqvae_config

from tasks.config import EchelonConfig, VQVAEModelConfig
from tasks.models.builders import build_denoiser, build_encoder, build_vqvae
from tasks.models.export import export_models, export_onnx, run_onnx
from tasks.motion.conditioning import as_tensors
from tasks.motion.recording import Performance
from tasks.motion.windows import conditioning_inputs


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
    torch.manual_seed(0)
    vqvae = build_vqvae(tiny_vqvae_config().model).eval() if fmt == "onnx" else None
    result = export_models(model, EchelonConfig(), tmp_path, VQVAEModelConfig().latent_rate, fmt,
                           example_latents=96, vqvae=vqvae, latent_scale=2.5)
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
        decoder_matches_a_render(result, vqvae, tmp_path)
    else:
        assert result.decoder is None  # no VQ-VAE given: encoder and denoiser only


def decoder_matches_a_render(result, vqvae, folder):
    """The engine's last step: scaled latents → nearest codes → waveform, as a render decodes,
    with its codebook and latent scale beside it."""
    import json

    from echelon_models.vqvae.export_steps import LatentDecoderStep
    from tasks.models.export import near_codes
    from tasks.models.tokenizer import Tokenizer, decode_latents

    assert result.decoder_max_abs_diff < 1e-4
    engine = json.loads((folder / "engine.json").read_text())
    assert engine["latent_scale"] == 2.5 and engine["hop"] == vqvae.hop
    assert np.array_equal(np.load(result.codebook), vqvae.quantizer.embed.numpy())
    latents = near_codes(LatentDecoderStep(vqvae, 2.5), 100, 7)[0]  # another length
    session = onnxruntime.InferenceSession(result.decoder, providers=["CPUExecutionProvider"])
    wave = session.run(None, {"latents": latents.numpy()})[0]
    assert wave.shape == (2, 1, 100 * vqvae.hop)
    rendered = decode_latents(Tokenizer(vqvae, "v"), latents[0].numpy() / 2.5, 100 * vqvae.hop)
    np.testing.assert_allclose(wave[0, 0], rendered, atol=1e-4)


def test_onnx_encoder_alone_matches_eager(tmp_path):
    rng = np.random.default_rng(1)
    n = 80
    present = np.ones((n, 2), bool)
    present[50:, 1] = False
    performance = Performance("x", 30.0, 0.0, rng.normal(size=(n, 2, 25)).astype(np.float32),
                              present, np.repeat([0, 1], n // 2).astype(np.int32), ("a", "b"))
    encoder = build_encoder(seed=3)
    path = tmp_path / "encoder.onnx"
    export_onnx(encoder, path, as_tensors(conditioning_inputs(performance, np.arange(10))))
    assert path.stat().st_size > 100_000
    # a different length than the export example: time is a dynamic axis
    inputs = as_tensors(conditioning_inputs(performance, np.arange(n)))
    with torch.no_grad():
        eager = encoder(*inputs).numpy()
    assert np.max(np.abs(run_onnx(path, inputs) - eager)) < 1e-4
    assert not list(tmp_path.glob(".*tmp*"))

