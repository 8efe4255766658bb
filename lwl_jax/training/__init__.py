"""Training: losses, the training objective (shared with the parity test), frozen parameters, the trainer."""
