"""Echelon conditioning encoder (motion → 256-d per frame)."""

from echelon_models.conditioning.encoder import EchelonEncoder, embedding_stats

__all__ = ["EchelonEncoder", "embedding_stats"]
