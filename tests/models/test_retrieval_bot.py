"""The retrieval chatbot (notes §4.3.1): TF-IDF vectors equal to scikit-learn's, answers of the most similar
stored questions by cosine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models.seq2seq.retrieval import RetrievalBot


def _docs():
    rng = np.random.default_rng(0)
    return [rng.integers(1, 30, size=rng.integers(2, 9)).tolist() for _ in range(40)]


def test_vectors_equal_scikit_learns_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = _docs()
    bot = RetrievalBot(docs, list(range(len(docs))), vocab_size=30)
    vec = TfidfVectorizer(analyzer=lambda d: [str(t) for t in d], norm="l2", smooth_idf=True, sublinear_tf=False)
    ref = vec.fit_transform(docs).toarray()
    cols = [int(t) for t in vec.get_feature_names_out()]
    np.testing.assert_allclose(bot.matrix[:, cols].numpy(), ref, atol=1e-12)
    queries = [[1, 2, 3], [29, 29, 5]]
    np.testing.assert_allclose(bot.encode(queries)[:, cols].numpy(), vec.transform(queries).toarray(), atol=1e-12)


def test_answers_come_from_the_most_similar_questions():
    docs = _docs()
    answers = [f"answer {i}" for i in range(len(docs))]
    bot = RetrievalBot(docs, answers, vocab_size=30)
    idx, cos = bot.retrieve([docs[7], docs[3]], k=3)
    assert idx[:, 0].tolist() == [7, 3] and torch.allclose(cos[:, 0], torch.ones(2, dtype=torch.float64))
    assert bool((cos[:, :-1] >= cos[:, 1:]).all())  # best first
    brute = torch.stack([bot.encode([docs[7]])[0] @ bot.matrix[j] for j in range(len(docs))])
    assert idx[0].tolist() == torch.topk(brute, 3).indices.tolist()
    assert bot.reply([docs[7]], k=2)[0][0] == "answer 7"
    # ignored ids (padding, separators) do not count
    masked = RetrievalBot([[0, 5, 0], [6, 7]], ["a", "b"], vocab_size=10, ignore=[0])
    assert masked.reply([[5, 0, 0, 0]])[0] == ["a"]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="one answer per question"):
        RetrievalBot([[1]], [], vocab_size=3)
    with pytest.raises(ConfigError, match=r"token ids must lie in \[0, 3\)"):
        RetrievalBot([[1, 5]], ["a"], vocab_size=3)
    bot = RetrievalBot([[1], [2]], ["a", "b"], vocab_size=3)
    with pytest.raises(ConfigError, match=r"k must be an integer in \[1, 2\]; got 3"):
        bot.retrieve([[1]], k=3)
