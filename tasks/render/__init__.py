"""Batch rendering: plan (skip, fail, seed) → rounds of batched sampling with inpainted,
cross-faded overlaps → decode and write each performance, retrieval-guided if asked."""
