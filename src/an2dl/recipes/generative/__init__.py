"""Chapters 3.6-3.7 of the notes: autoencoders, variational autoencoders and GANs."""
