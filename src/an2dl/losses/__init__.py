"""Loss functions written from the notes (SSE, perceptron criterion, cross-entropy, ELBO, GAN, ...)."""
