"""The Echelon conditioning encoder: each frame's motion window → one 256-d vector.

Per device, four views of the window are fused: the trajectory (where the phone's latent state
is and has been), its dynamics (velocities and accelerations: the rhythm of the movement), the
section changes inside the window, and which phone it is. The two phones' vectors are averaged
over the devices that were recording; a frame with no device gets a learned "no motion" vector
rather than an invented one. No state is carried between frames, so the encoder is
deterministic and can run on any slice of a performance.
"""

from __future__ import annotations

import torch
from torch import nn


class WindowBranch(nn.Module):
    """(N, C_in, W) → (N, out). Two convolutions over time, then a linear map that keeps where in
    the window each feature sits: the current frame matters more than the window's edges."""

    def __init__(self, in_channels: int, window: int, out_dim: int, hidden: int = 64):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(in_channels, hidden, kernel_size=5, padding=2), nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size=5, stride=2, padding=2), nn.GELU(),
        )
        reduced = (window - 1) // 2 + 1
        self.project = nn.Linear(hidden * reduced, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x)  # (N, hidden, ceil(W / 2))
        return self.project(h.flatten(1))  # (N, out)


class EchelonEncoder(nn.Module):
    def __init__(self, input_dim: int = 25, window: int = 46, past: int = 30,
                 trajectory_dim: int = 64, dynamics_dim: int = 64, transition_dim: int = 16,
                 device_dim: int = 32, n_devices: int = 2, output_dim: int = 256):
        super().__init__()
        if not 0 <= past < window:
            raise ValueError(f"past ({past}) must lie inside the window ({window})")
        self.input_dim, self.window, self.past = input_dim, window, past
        self.n_devices, self.output_dim = n_devices, output_dim
        # the trajectory sees absolute values and values relative to the current frame
        self.trajectory = WindowBranch(2 * input_dim, window, trajectory_dim)
        self.dynamics = WindowBranch(2 * input_dim, window, dynamics_dim)
        self.transition = nn.Sequential(nn.Linear(window, transition_dim), nn.GELU())
        self.device = nn.Embedding(n_devices, device_dim)
        fused_in = trajectory_dim + dynamics_dim + transition_dim + device_dim
        self.fuse = nn.Sequential(nn.Linear(fused_in, output_dim), nn.GELU(),
                                  nn.Linear(output_dim, output_dim), nn.LayerNorm(output_dim))
        self.no_motion = nn.Parameter(torch.zeros(output_dim))

    def forward(self, windows: torch.Tensor, present: torch.Tensor,
                transitions: torch.Tensor) -> torch.Tensor:
        """windows (B, T, D, W, C), present (B, T, D) bool, transitions (B, T, W) → (B, T, out)."""
        B, T, D, W, C = windows.shape
        x = windows.reshape(B * T * D, W, C).transpose(1, 2)  # (N, C, W), N = B·T·D
        current = x[:, :, self.past:self.past + 1]  # (N, C, 1)
        trajectory = self.trajectory(torch.cat([x, x - current], dim=1))  # (N, traj)

        zero = torch.zeros_like(x[:, :, :1])
        velocity = torch.cat([zero, x[:, :, 1:] - x[:, :, :-1]], dim=2)  # (N, C, W)
        acceleration = torch.cat([zero, velocity[:, :, 1:] - velocity[:, :, :-1]], dim=2)
        dynamics = self.dynamics(torch.cat([velocity, acceleration], dim=1))  # (N, dyn)

        transition = self.transition(transitions)  # (B, T, trans)
        transition = transition.unsqueeze(2).expand(B, T, D, -1).reshape(B * T * D, -1)
        device = self.device.weight[:D].unsqueeze(0).expand(B * T, D, -1).reshape(B * T * D, -1)

        fused = self.fuse(torch.cat([trajectory, dynamics, transition, device], dim=1))
        fused = fused.reshape(B, T, D, self.output_dim)  # (B, T, D, out)
        weight = present.to(fused.dtype).unsqueeze(-1)  # (B, T, D, 1)
        count = weight.sum(dim=2)  # (B, T, 1)
        pooled = (fused * weight).sum(dim=2) / count.clamp(min=1.0)  # (B, T, out)
        return torch.where(count > 0, pooled, self.no_motion.expand_as(pooled))


def embedding_stats(embeddings: torch.Tensor) -> dict[str, float]:
    """Mean, standard deviation and NaN count of a batch of embeddings, for monitoring."""
    finite = embeddings[torch.isfinite(embeddings)]
    return {"mean": float(finite.mean()) if finite.numel() else float("nan"),
            "std": float(finite.std()) if finite.numel() > 1 else float("nan"),
            "nan_count": int(torch.isnan(embeddings).sum())}
