"""Generators of demo and test data with known truth: house-like tracks (beats, bars,
sections) and phones dancing to them. Not pipeline steps: the demo, tests and benches use them."""
