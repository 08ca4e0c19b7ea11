"""The dataset rebuild's steps (find audio, decide what to analyse, analyse one file into a
record) and search over the phrase database."""
