"""The trained models for the real-time engine: the conditioning encoder and the denoiser as
ONNX (onnxruntime) or TorchScript, each checked against eager PyTorch on fresh inputs.

ONNX keeps batch and time dynamic, and is checked on another length than its export example.
TorchScript is traced (the U-Net's data-dependent padding does not script), so its shapes are
those of the example: export it at the engine's chunk length."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from echelon_models.diffusion import MotionConditionedDenoiser
from echelon_models.diffusion.export_steps import DenoiserStep, EncoderStep
from storage.atomic import atomic_path
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


ENCODER_NAMES = (["windows", "present", "transitions"], ["conditioning"])
DENOISER_NAMES = (["x", "t", "cond"], ["output"])


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
                  latent_rate: float, fmt: ExportFormat = "onnx",
                  example_latents: int = 256) -> ExportResult:
    """Write encoder and denoiser (whole files) into `out_dir` and measure their parity;
    `latent_rate` (the VQ-VAE's latent frames per second) sizes the motion of the example."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    encoder, denoiser = EncoderStep(model).eval(), DenoiserStep(model).eval()
    frames = int(np.ceil(example_latents / latent_rate * echelon.motion.frame_rate)) + 2
    enc_example, den_example = example_inputs(model, echelon, frames, example_latents)
    if fmt == "onnx":  # other lengths than the example: the time axes must really be dynamic
        enc_check, den_check = example_inputs(model, echelon, frames + 17, example_latents + 77, 1)
    else:
        enc_check, den_check = example_inputs(model, echelon, frames, example_latents, 1)
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    paths = out_dir / f"encoder{suffix}", out_dir / f"denoiser{suffix}"
    exporter = export_onnx if fmt == "onnx" else _export_torchscript
    runner = run_onnx if fmt == "onnx" else _run_torchscript
    diffs = []
    for module, path, example, check, names in (
            (encoder, paths[0], enc_example, enc_check, ENCODER_NAMES),
            (denoiser, paths[1], den_example, den_check, DENOISER_NAMES)):
        exporter(module, path, example, names)
        with torch.no_grad():
            eager = module(*check).numpy()
        diffs.append(float(np.max(np.abs(runner(path, check, names[0]) - eager))))
    null = out_dir / "null_conditioning.npy"
    with atomic_path(null) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, model.null.detach().cpu().numpy().astype(np.float32))
    return ExportResult(str(paths[0]), str(paths[1]), str(null), fmt, diffs[0], diffs[1])


def export_onnx(module: nn.Module, path: Path | str, example: tuple,
                names: tuple[list[str], list[str]] = ENCODER_NAMES) -> None:
    """ONNX with batch and time dynamic, written whole: the encoder (ENCODER_NAMES) or the
    denoiser (DENOISER_NAMES); `example` fixes only the other sizes."""
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    if names == DENOISER_NAMES:  # x (B, C, T), t (B,), cond (B, T, D)
        dynamic = ({0: batch, 2: time}, {0: batch}, {0: batch, 1: time})
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
