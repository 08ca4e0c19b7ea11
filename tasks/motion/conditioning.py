"""The conditioning encoder as a step: run it over a whole performance, in chunks."""

from __future__ import annotations

import numpy as np
import torch

from echelon_models.conditioning import EchelonEncoder
from tasks.config import EchelonConfig
from tasks.motion.recording import Performance
from tasks.motion.windows import ConditioningInputs, conditioning_inputs


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
