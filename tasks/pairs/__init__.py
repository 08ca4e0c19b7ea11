"""Motion-audio pairs: the pairing sheet and what each of its rows becomes."""
