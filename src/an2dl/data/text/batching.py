"""Padded batches of token sequences of different lengths (notes §4.2.2, the ``<pad>`` token).

Sentences differ in length; a batch needs one rectangular tensor.  The
shorter sequences are filled up with ``<pad>`` (id 0) at the end, and the
true lengths travel with the batch, so that recurrent layers
(``lengths=``, :mod:`an2dl.nn.recurrent`), attention masks
(:mod:`an2dl.nn.masks`) and losses can ignore the padding::

    [5, 9, 7], [4], [8, 6]   ->   tokens  [[5, 9, 7],      lengths [3, 1, 2]
                                           [4, 0, 0],
                                           [8, 6, 0]]

Sequences are left-aligned (padding at the end), the layout
:func:`~an2dl.nn.masks.lengths_to_mask` and ``pack_padded_sequence`` expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from ..batch import Batch
from .specials import PAD

__all__ = ["pad_sequences", "pad_collate"]


def _check_pad_id(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner} {name} must be an integer token id; got {value!r}")


def pad_sequences(sequences: Sequence[torch.Tensor], pad_id: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D token sequences of different lengths into one padded batch (notes §4.2.2).

    Args:
        sequences: B integer tensors (or lists of ints) ``[T_b]``; empty ones are allowed.
        pad_id: the id written after each sequence's end (default ``<pad>`` = 0).

    Returns:
        ``(tokens, lengths)``: ``tokens`` int64 ``[B, T]`` with ``T = max_b T_b``
        and ``tokens[b, :T_b] = sequences[b]``, ``tokens[b, T_b:] = pad_id``;
        ``lengths`` int64 ``[B]`` holds the ``T_b``.

    Raises:
        ValueError: no sequences, or one that is not 1-D.
        TypeError: a sequence of non-integers, or a non-integer ``pad_id``.

    Shape:
        B × ``[T_b]`` -> ``([B, T], [B])``.
    """
    _check_pad_id("pad_sequences", "pad_id", pad_id)
    if isinstance(sequences, torch.Tensor) or not isinstance(sequences, Sequence) or len(sequences) == 0:
        got = f"a tensor {list(sequences.shape)}" if isinstance(sequences, torch.Tensor) else repr(sequences)[:60]
        raise ValueError(f"pad_sequences needs a non-empty list of 1-D token tensors; got {got}")
    seqs = []
    for i, s in enumerate(sequences):
        t = torch.as_tensor(s) if not isinstance(s, torch.Tensor) else s
        if t.dim() != 1:
            raise ValueError(f"pad_sequences sequences[{i}] must be 1-D [T]; got shape {list(t.shape)}")
        if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
            raise TypeError(f"pad_sequences sequences[{i}] must hold integer token ids; got dtype {t.dtype}")
        seqs.append(t.long())
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    tokens = pad_sequence(seqs, batch_first=True, padding_value=pad_id)  # (B, T)
    return tokens, lengths


def pad_collate(samples: Sequence[Any], *, pad_id: int = PAD, target_pad_id: int = PAD) -> Batch:
    """Collate ``(tokens, target)`` samples of different lengths into a named batch ``tokens, lengths, targets``.

    Use it as a ``DataLoader``'s ``collate_fn`` or as a dataset's
    ``collate_fn`` attribute (other pad ids: ``functools.partial(pad_collate, pad_id=...)``);
    tasks read ``batch.tokens``, ``batch.lengths`` and ``batch.targets``.

    Args:
        samples: ``(tokens [T_b], target)`` pairs.  A target is a class id or
            a number (0-d), a tensor of one fixed shape, or a token sequence
            ``[T'_b]`` whose length may differ between samples (tagging,
            sequence-to-sequence targets).
        pad_id: padding id of the inputs.
        target_pad_id: padding id of sequence targets (default ``<pad>``,
            which losses skip with ``ignore_index=PAD``).

    Returns:
        :class:`~an2dl.data.batch.Batch` ``(tokens [B, T] int64, lengths [B] int64, targets)`` where
        ``targets`` is the stack ``[B, ...]`` of targets of one shape, or
        ``[B, T']`` padded with ``target_pad_id`` for 1-D targets of
        different lengths.

    Raises:
        ValueError: no samples, a sample that is not a pair, or targets of
            different shapes that are not all 1-D.

    Shape:
        B × ``([T_b], target)`` -> ``([B, T], [B], [B, ...])``.
    """
    _check_pad_id("pad_collate", "target_pad_id", target_pad_id)
    if not isinstance(samples, Sequence) or len(samples) == 0:
        raise ValueError(f"pad_collate needs a non-empty list of (tokens, target) samples; got {repr(samples)[:60]}")
    inputs, targets = [], []
    for i, s in enumerate(samples):
        if not isinstance(s, (tuple, list)) or len(s) != 2:
            got = f"a {type(s).__name__} of {len(s)}" if isinstance(s, (tuple, list)) else type(s).__name__
            raise ValueError(f"pad_collate samples[{i}] must be a (tokens, target) pair; got {got}")
        inputs.append(s[0])
        targets.append(torch.as_tensor(s[1]))
    tokens, lengths = pad_sequences(inputs, pad_id)
    shapes = {tuple(t.shape) for t in targets}
    if len(shapes) == 1:
        return Batch(tokens=tokens, lengths=lengths, targets=torch.stack(targets), size=len(samples))
    if all(t.dim() == 1 for t in targets):
        return Batch(tokens=tokens, lengths=lengths, targets=pad_sequences(targets, target_pad_id)[0], size=len(samples))
    raise ValueError(f"pad_collate targets must share one shape or all be 1-D sequences; got shapes "
                     f"{sorted(shapes)}")
