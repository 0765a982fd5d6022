"""Chapter 4.2 of the notes (§4.2.3–§4.2.5): words — N-gram language models with smoothing, the neural network
language model of Bengio et al. (2003), and word2vec (skip-gram and CBOW, Mikolov et al. 2013)."""
