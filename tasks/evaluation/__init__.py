"""Judging what the models make: does the audio follow the motion, does it sound like the
library, is it loud, clipped or silent. Fixed, documented definitions (each metric's docstring
is its definition), every figure measured beside its floor and its ceiling."""
