"""Diffusion over VQ-VAE latents: backbones, noise schedules, samplers, flow matching."""

from echelon_models.diffusion.ddim import DDIMSampler
from echelon_models.diffusion.ddpm import DDPMSampler
from echelon_models.diffusion.denoiser import MotionBatch, MotionConditionedDenoiser
from echelon_models.diffusion.dit import DiT1d
from echelon_models.diffusion.dpm_solver import DPMSolverSampler
from echelon_models.diffusion.flow_matching import EulerSampler, FlowMatchingObjective, HeunSampler
from echelon_models.diffusion.noise_schedule import DiffusionObjective, NoiseSchedule, SamplerOutput
from echelon_models.diffusion.pipeline import guided, sample
from echelon_models.diffusion.unet import UNet1d

__all__ = ["DDIMSampler", "DDPMSampler", "DPMSolverSampler", "EulerSampler", "HeunSampler",
           "DiT1d", "UNet1d", "MotionBatch", "MotionConditionedDenoiser", "NoiseSchedule",
           "DiffusionObjective", "FlowMatchingObjective", "SamplerOutput", "guided", "sample"]
