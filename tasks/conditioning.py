"""The conditioning encoder as a step: build it from config, run it on a performance, export it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from echelon_models.conditioning import EchelonEncoder
from storage.atomic import atomic_path
from tasks.config import EchelonConfig
from tasks.motion import Performance
from tasks.motion_windows import ConditioningInputs, conditioning_inputs


def build_encoder(config: EchelonConfig = EchelonConfig(), seed: int | None = 0) -> EchelonEncoder:
    """The encoder of `config`, in eval mode; `seed` fixes its initial weights."""
    if seed is not None:
        torch.manual_seed(seed)
    return EchelonEncoder(window=config.window, past=config.motion.window_past,
                          **config.encoder.model_dump()).eval()


def as_tensors(inputs: ConditioningInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, …) arrays → (1, N, …) tensors: one sequence of N frames."""
    return (torch.from_numpy(inputs.windows).unsqueeze(0),
            torch.from_numpy(inputs.present).unsqueeze(0),
            torch.from_numpy(inputs.transitions).unsqueeze(0))


@torch.no_grad()
def encode_performance(encoder: EchelonEncoder, performance: Performance,
                       config: EchelonConfig = EchelonConfig(), chunk: int = 4096) -> np.ndarray:
    """(T, 256) float32: one conditioning vector per motion frame, `chunk` frames at a time."""
    out = []
    for start in range(0, performance.n_frames, chunk):
        centers = np.arange(start, min(start + chunk, performance.n_frames))
        inputs = conditioning_inputs(performance, centers, config.motion.window_past,
                                     config.motion.window_future)
        out.append(encoder(*as_tensors(inputs))[0].numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.output_dim), np.float32)


def export_encoder_onnx(encoder: EchelonEncoder, path: Path | str,
                        example: ConditioningInputs) -> Path:
    """ONNX with batch and time dynamic; written whole. `example` only fixes the other sizes."""
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    args = as_tensors(example)
    dynamic = ({0: batch, 1: time}, {0: batch, 1: time}, {0: batch, 1: time})
    with atomic_path(path) as tmp:
        program = torch.onnx.export(encoder.eval(), args, dynamo=True, dynamic_shapes=dynamic,
                                    input_names=["windows", "present", "transitions"],
                                    output_names=["conditioning"], verbose=False)
        program.save(str(tmp))
    return Path(path)


def onnx_parity(encoder: EchelonEncoder, path: Path | str, inputs: ConditioningInputs) -> float:
    """Largest absolute difference between onnxruntime and eager PyTorch on `inputs`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    windows, present, transitions = as_tensors(inputs)
    (onnx_out,) = session.run(None, {"windows": windows.numpy(), "present": present.numpy(),
                                     "transitions": transitions.numpy()})
    with torch.no_grad():
        eager = encoder(windows, present, transitions).numpy()
    return float(np.max(np.abs(onnx_out - eager)))
