"""Motion recordings: validation and one 30 Hz clock, the conditioning windows each frame
sees and which latent frame gets which motion frame, motion tempo and energy, the encoder
run over a whole performance."""
