"""Chapter 4.2 of the notes (§4.2.3–§4.2.4): word language models — N-gram models with smoothing and the
neural network language model of Bengio et al. (2003)."""
