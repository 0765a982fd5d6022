"""Unsupervised and generative models of the notes' §3.6–§3.7: autoencoders, VAEs, GANs."""
