"""The motion → phrase mapper's steps: phrase windows of the pairs, splits, ranking."""
