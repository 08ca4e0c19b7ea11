"""The trainers (VQ-VAE and diffusion) and the crops of audio and latents they learn from."""
