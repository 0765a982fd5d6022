"""Padded batches of variable-length token sequences (notes §4.2.2, ``<pad>``)."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from an2dl.data.text import PAD, Vocabulary, pad_collate, pad_sequences
from an2dl.models.sequence.recurrent import RecurrentClassifier
from an2dl.nn.masks import lengths_to_mask


def test_pad_sequences_fills_the_end_with_pad():
    tokens, lengths = pad_sequences([torch.tensor([5, 9, 7]), torch.tensor([4]), torch.tensor([8, 6])])
    assert tokens.tolist() == [[5, 9, 7], [4, PAD, PAD], [8, 6, PAD]]
    assert lengths.tolist() == [3, 1, 2] and tokens.dtype == lengths.dtype == torch.int64
    tokens, lengths = pad_sequences([[1, 2], []], pad_id=-1)
    assert tokens.tolist() == [[1, 2], [-1, -1]] and lengths.tolist() == [2, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(4, 50), max_size=9), min_size=1, max_size=6))
def test_padding_keeps_every_sequence_and_marks_the_rest(seqs):
    tokens, lengths = pad_sequences([torch.tensor(s, dtype=torch.long) for s in seqs])
    assert tokens.shape == (len(seqs), max(len(s) for s in seqs))
    for b, s in enumerate(seqs):
        assert tokens[b, : lengths[b]].tolist() == s
    assert torch.equal(tokens == PAD, ~lengths_to_mask(lengths, tokens.shape[1]))


def test_pad_sequences_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty list"):
        pad_sequences([])
    with pytest.raises(ValueError, match=r"sequences\[1\] must be 1-D \[T\]; got shape \[1, 2\]"):
        pad_sequences([torch.tensor([1]), torch.tensor([[1, 2]])])
    with pytest.raises(TypeError, match=r"sequences\[0\] must hold integer token ids; got dtype torch.float32"):
        pad_sequences([torch.tensor([1.5])])
    with pytest.raises(TypeError, match="pad_id must be an integer"):
        pad_sequences([torch.tensor([1])], pad_id=0.5)


def test_pad_collate_gives_the_sequence_tasks_batch():
    samples = [(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0)]
    b = pad_collate(samples)
    tokens, lengths, targets = b.tokens, b.lengths, b.targets
    assert b.size == 2
    assert tokens.tolist() == [[5, 6, 7], [8, PAD, PAD]] and lengths.tolist() == [3, 1]
    assert targets.tolist() == [1, 0]
    # token-sequence targets of different lengths are padded in turn
    seq_targets = pad_collate([(torch.tensor([5, 6]), torch.tensor([2, 9, 3])), (torch.tensor([7]), [2, 3])],
                              target_pad_id=-100).targets
    assert seq_targets.tolist() == [[2, 9, 3], [2, 3, -100]]
    vectors = pad_collate([(torch.tensor([5]), torch.ones(2)), (torch.tensor([6, 7]), torch.zeros(2))]).targets
    assert vectors.shape == (2, 2)


def test_pad_collate_rejects_bad_samples():
    with pytest.raises(ValueError, match=r"samples\[1\] must be a \(tokens, target\) pair; got a tuple of 3"):
        pad_collate([(torch.tensor([1]), 0), (torch.tensor([1]), 0, 0)])
    with pytest.raises(ValueError, match="non-empty list"):
        pad_collate([])
    with pytest.raises(ValueError, match="share one shape or all be 1-D"):
        pad_collate([(torch.tensor([1]), torch.ones(2, 2)), (torch.tensor([2]), torch.ones(3, 2))])


def test_a_padded_batch_classifies_each_sequence_as_if_it_were_alone():
    vocab = Vocabulary.build(["the cat sat", "a dog ran home", "cats"], tokenizer="word")
    texts = ["the cat sat", "a dog", "cats ran home the"]
    dataset = [(vocab.encode(t), i) for i, t in enumerate(texts)]
    loader = DataLoader(dataset, batch_size=3, collate_fn=functools.partial(pad_collate, pad_id=PAD))
    b = next(iter(loader))
    tokens, lengths, labels = b.tokens, b.lengths, b.targets
    torch.manual_seed(0)
    model = RecurrentClassifier(vocab_size=len(vocab), num_classes=2, hidden_size=8, embedding_dim=4,
                                pooling="mean").double().eval()
    batched = model(tokens, lengths)
    for b, (ids, _) in enumerate(dataset):
        alone = model(ids[None], torch.tensor([len(ids)]))
        assert torch.allclose(batched[b], alone[0], atol=1e-12)
    assert labels.tolist() == [0, 1, 2]
