"""Audio analysis of one track: decode, beats and bars, sections and phrases, features, the
phrase embedding, accuracy against annotations, and the plot of it all."""
