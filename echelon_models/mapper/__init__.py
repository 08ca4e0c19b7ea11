"""The motion → phrase mapper: a motion tower trained against frozen phrase embeddings."""

from echelon_models.mapper.tower import MotionTower, symmetric_info_nce

__all__ = ["MotionTower", "symmetric_info_nce"]
