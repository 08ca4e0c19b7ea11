"""VQ-VAE audio tokenizer: encoder, EMA codebook, decoder, losses."""

from echelon_models.vqvae.losses import MelDistance, ReconstructionLoss, si_sdr
from echelon_models.vqvae.quantizer import EMACodebook, QuantizedResult
from echelon_models.vqvae.vqvae import VQVAE, VQVAEOutput

__all__ = ["VQVAE", "VQVAEOutput", "EMACodebook", "QuantizedResult", "ReconstructionLoss",
           "MelDistance", "si_sdr"]
