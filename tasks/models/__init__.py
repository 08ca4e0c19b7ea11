"""Using trained models: every model built from config or loaded from a checkpoint
(builders.py), audio ↔ tokens, latents from motion, export for the real-time engine."""
