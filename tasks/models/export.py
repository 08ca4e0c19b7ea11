"""The trained models for the real-time engine: the conditioning encoder, the denoiser and
the VQ-VAE decoder (latents → nearest codes → waveform) as ONNX (onnxruntime) or TorchScript,
each checked against eager PyTorch on fresh inputs; with the null conditioning, the codebook
and `engine.json` (latent scale, rates, hop), the engine has every part from motion to sound.

ONNX keeps batch and time dynamic, and is checked on another length than its export example.
TorchScript is traced (the U-Net's data-dependent padding does not script), so its shapes are
those of the example: export it at the engine's chunk length."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from echelon_models.diffusion import MotionConditionedDenoiser
from echelon_models.diffusion.export_steps import DenoiserStep, EncoderStep
from echelon_models.vqvae import VQVAE
from echelon_models.vqvae.export_steps import LatentDecoderStep
from storage.atomic import atomic_path, write_text
from tasks.config import EchelonConfig

ExportFormat = Literal["onnx", "torchscript"]


@dataclass(frozen=True)
class ExportResult:
    encoder: str
    denoiser: str
    null_conditioning: str  # (256,) float32 .npy: `cond` of the unconditional pass
    format: str
    encoder_max_abs_diff: float
    denoiser_max_abs_diff: float
    decoder: str | None = None
    codebook: str | None = None  # (K, D) float32 .npy
    engine: str | None = None  # engine.json: latent scale, rates, hop, the files
    decoder_max_abs_diff: float | None = None


ENCODER_NAMES = (["windows", "present", "transitions"], ["conditioning"])
DENOISER_NAMES = (["x", "t", "cond"], ["output"])
DECODER_NAMES = (["latents"], ["waveform"])


def example_inputs(model: MotionConditionedDenoiser, echelon: EchelonConfig, frames: int,
                   latents: int, seed: int = 0) -> tuple[tuple, tuple]:
    """Random (encoder inputs, denoiser inputs) of the model's sizes, batch 2."""
    g = torch.Generator().manual_seed(seed)
    window, devices = echelon.window, echelon.encoder.n_devices
    encoder_args = (torch.randn(2, frames, devices, window, echelon.encoder.input_dim, generator=g),
                    torch.rand(2, frames, devices, generator=g) > 0.2,
                    (torch.rand(2, frames, window, generator=g) > 0.95).float())
    denoiser_args = (torch.randn(2, model.backbone_channels, latents, generator=g),
                     torch.tensor([999.0, 10.0]),
                     torch.randn(2, latents, model.encoder.output_dim, generator=g))
    return encoder_args, denoiser_args


def export_models(model: MotionConditionedDenoiser, echelon: EchelonConfig, out_dir: Path | str,
                  latent_rate: float, fmt: ExportFormat = "onnx", example_latents: int = 256,
                  vqvae: VQVAE | None = None, latent_scale: float | None = None) -> ExportResult:
    """Write encoder and denoiser (and, given the VQ-VAE and the latent scale the diffusion
    model was trained with, the decoder) into `out_dir` as whole files and measure their
    parity; `latent_rate` (the VQ-VAE's latent frames per second) sizes the example motion."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    frames = int(np.ceil(example_latents / latent_rate * echelon.motion.frame_rate)) + 2
    # ONNX is checked on other lengths than the example: the time axes must really be dynamic
    longer = (17, 77) if fmt == "onnx" else (0, 0)
    enc_example, den_example = example_inputs(model, echelon, frames, example_latents)
    enc_check, den_check = example_inputs(model, echelon, frames + longer[0],
                                          example_latents + longer[1], 1)
    steps = [("encoder", EncoderStep(model).eval(), enc_example, enc_check, ENCODER_NAMES),
             ("denoiser", DenoiserStep(model).eval(), den_example, den_check, DENOISER_NAMES)]
    if vqvae is not None:
        decoder = LatentDecoderStep(vqvae.float().cpu(), latent_scale or 1.0).eval()
        steps.append(("decoder", decoder, near_codes(decoder, example_latents, 0),
                      near_codes(decoder, example_latents + longer[1], 1), DECODER_NAMES))
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    exporter = export_onnx if fmt == "onnx" else _export_torchscript
    runner = run_onnx if fmt == "onnx" else _run_torchscript
    paths, diffs = {}, {}
    for name, module, example, check, names in steps:
        paths[name] = out_dir / f"{name}{suffix}"
        exporter(module, paths[name], example, names)
        with torch.no_grad():
            eager = module(*check).numpy()
        diffs[name] = float(np.max(np.abs(runner(paths[name], check, names[0]) - eager)))
    null = _write_npy(out_dir / "null_conditioning.npy", model.null)
    result = ExportResult(str(paths["encoder"]), str(paths["denoiser"]), str(null), fmt,
                          diffs["encoder"], diffs["denoiser"])
    if vqvae is None:
        return result
    codebook = _write_npy(out_dir / "codebook.npy", vqvae.quantizer.embed)
    engine = out_dir / "engine.json"
    write_text(engine, json.dumps({
        "format": fmt, "latent_scale": latent_scale, "latent_rate": latent_rate,
        "sample_rate": vqvae.sample_rate, "hop": vqvae.hop,
        "codebook_size": int(vqvae.quantizer.embed.shape[0]),
        "latent_dim": int(vqvae.quantizer.embed.shape[1]),
        "files": {"encoder": paths["encoder"].name, "denoiser": paths["denoiser"].name,
                  "decoder": paths["decoder"].name, "null_conditioning": null.name,
                  "codebook": codebook.name}}, indent=1))
    return replace(result, decoder=str(paths["decoder"]), codebook=str(codebook),
                   engine=str(engine), decoder_max_abs_diff=diffs["decoder"])


def near_codes(decoder: LatentDecoderStep, latents: int, seed: int) -> tuple[torch.Tensor]:
    """(latents (2, D, L),): codebook entries plus a little noise, scaled as the denoiser makes
    them: what the engine decodes (random vectors would sit on near-ties between codes)."""
    g = torch.Generator().manual_seed(seed)
    book = decoder.codebook
    codes = torch.randint(len(book), (2, latents), generator=g)
    z = book[codes] + 0.01 * book.std() * torch.randn(2, latents, book.shape[1], generator=g)
    return ((z * decoder.latent_scale).transpose(1, 2).contiguous(),)


def _write_npy(path: Path, tensor: torch.Tensor) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, tensor.detach().cpu().numpy().astype(np.float32))
    return path


def export_onnx(module: nn.Module, path: Path | str, example: tuple,
                names: tuple[list[str], list[str]] = ENCODER_NAMES) -> None:
    """ONNX with batch and time dynamic, written whole: the encoder (ENCODER_NAMES), the
    denoiser (DENOISER_NAMES) or the decoder (DECODER_NAMES); `example` fixes only the other
    sizes."""
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    if names == DENOISER_NAMES:  # x (B, C, T), t (B,), cond (B, T, D)
        dynamic = ({0: batch, 2: time}, {0: batch}, {0: batch, 1: time})
    elif names == DECODER_NAMES:  # latents (B, D, T)
        dynamic = ({0: batch, 2: time},)
    else:  # encoder: every input is (B, N, …)
        dynamic = tuple({0: batch, 1: time} for _ in example)
    with atomic_path(path) as tmp:
        program = torch.onnx.export(module, example, dynamo=True, dynamic_shapes=dynamic,
                                    input_names=names[0], output_names=names[1], verbose=False)
        program.save(str(tmp))


def _export_torchscript(module: nn.Module, path: Path, example: tuple, names) -> None:
    with atomic_path(path) as tmp:
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(tmp))


def run_onnx(path: Path | str, inputs: tuple, names: list[str] = ENCODER_NAMES[0]) -> np.ndarray:
    """The first output of an exported model run by onnxruntime on `inputs` (tensors)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0]


def _run_torchscript(path: Path, inputs: tuple, names: list[str]) -> np.ndarray:
    with torch.no_grad():
        return torch.jit.load(str(path)).eval()(*inputs).numpy()
