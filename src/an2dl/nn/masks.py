"""Padding and look-ahead masks for recurrent layers and attention (notes §4.1.1, §4.3, §4.4.2).

Every mask here is boolean with **True = may attend / a real step**, the
meaning of ``F.scaled_dot_product_attention``'s boolean ``attn_mask`` (DESIGN
§4).  PyTorch has two other conventions that these masks convert to:

* ``nn.Transformer.generate_square_subsequent_mask(T)`` and additive masks in
  general are float, ``0`` where attention is allowed and ``-inf`` where it is
  not: ``torch.zeros(m.shape).masked_fill(~m, float("-inf"))`` builds one from
  ours, and ``~torch.isinf(additive)`` goes back;
* ``nn.MultiheadAttention``'s ``key_padding_mask`` and ``attn_mask`` (when
  boolean) mean True = *ignore*: pass ``~mask``.

Padding (variable lengths, §4.1.1 and §4.2.2's ``<pad>`` token).  Sequences
are batch-first and left-aligned: row ``b`` holds ``lengths[b]`` real steps
followed by padding, so the valid steps are ``t < lengths[b]``::

    lengths = [3, 1], T = 4   ->   [[1, 1, 1, 0],
                                    [1, 0, 0, 0]]

Look-ahead (§4.4.2, "Decoder attention"; Vaswani et al. 2017, §3.2.3): at
training time the whole target sequence is known, and query ``i`` may attend
key ``j`` only when ``j ≤ i`` — a lower-triangular matrix including the
diagonal::

    T = 3   ->   [[1, 0, 0],
                  [1, 1, 0],
                  [1, 1, 1]]

:func:`attention_mask` combines both into the ``[B, T_q, T_k]`` mask of one
attention call: ``padding[b, j] AND look_ahead[i, j]``.
"""

from __future__ import annotations

import torch

__all__ = ["lengths_to_mask", "mask_to_lengths", "padding_mask", "causal_mask", "attention_mask"]


def _check_size(owner: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner} {name} must be an integer >= {minimum}; got {value!r}")
    return value


def _check_lengths(owner: str, lengths: object, max_length: int, minimum: int) -> torch.Tensor:
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"{owner} lengths must be an integer tensor of shape [B]; "
                         f"got {lengths.dtype} {list(lengths.shape)}")
    if lengths.numel() and (bool((lengths < minimum).any()) or bool((lengths > max_length).any())):
        raise ValueError(f"{owner} lengths must lie in [{minimum}, {max_length}] (the padded length); "
                         f"got min {int(lengths.min())}, max {int(lengths.max())}")
    return lengths


# ---------------------------------------------------------------------------------------------------------------------
def lengths_to_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """Padding mask of left-aligned sequences: True at the valid (non-padded) steps (notes §4.1.1).

    Args:
        lengths: valid length of each sequence, integers in ``[0, max_length]``
            (a list or tensor; the mask is built on its device).
        max_length: T, the padded length.

    Returns:
        ``mask [B, T]`` bool with ``mask[b, t] = t < lengths[b]``.

    Raises:
        ValueError: ``lengths`` is not a 1-D integer tensor, or a length lies
            outside ``[0, max_length]``.

    Shape:
        ``lengths [B]`` -> ``[B, T]``.
    """
    _check_size("lengths_to_mask", "max_length", max_length, 0)
    lengths = _check_lengths("lengths_to_mask", lengths, max_length, 0)
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def mask_to_lengths(mask: torch.Tensor) -> torch.Tensor:
    """Lengths of a left-aligned padding mask (True = valid step); the inverse of :func:`lengths_to_mask`.

    Args:
        mask: boolean ``[B, T]`` whose row ``b`` is True for its first
            ``lengths[b]`` steps and False after them.

    Returns:
        ``lengths [B]`` int64.

    Raises:
        ValueError: ``mask`` is not boolean ``[B, T]`` or a True follows a False
            in some row (padding must come at the end).

    Shape:
        ``[B, T]`` -> ``[B]``.
    """
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
        got = f"{mask.dtype} {list(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a boolean tensor [B, T] (True = valid step); got {got}")
    lengths = mask.sum(dim=1)
    if not torch.equal(lengths_to_mask(lengths, mask.shape[1]), mask):
        raise ValueError("mask must mark a prefix of each sequence (True for the first lengths[b] steps, "
                         "padding at the end); got a mask with a valid step after a padded one")
    return lengths.long()


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Key-padding mask shaped to broadcast over attention weights ``[B, heads, T_q, T_k]`` (notes §4.4).

    Every query may attend every real key of its sequence and no padded one.
    This is :func:`lengths_to_mask` with two singleton axes inserted, so it
    can be passed straight to ``F.scaled_dot_product_attention`` as
    ``attn_mask`` for queries ``[B, heads, T_q, D]`` (or ``[B, T_q, D]``
    after ``squeeze(1)``).  For ``nn.MultiheadAttention(key_padding_mask=...)``
    use ``~lengths_to_mask(lengths, T)``, ``[B, T]`` with True = ignore.

    Args:
        lengths: number of real keys per sequence, integers in ``[0, max_len]``.
        max_len: T_k, the padded number of keys.

    Returns:
        bool ``[B, 1, 1, T_k]``, True where key ``j < lengths[b]``.

    Shape:
        ``lengths [B]`` -> ``[B, 1, 1, T_k]``.
    """
    return lengths_to_mask(lengths, max_len)[:, None, None, :]  # (B, 1, 1, T_k)


def causal_mask(T_q: int, T_k: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Look-ahead mask: query ``i`` may attend key ``j`` when ``j ≤ i`` (notes §4.4.2; Vaswani et al. 2017).

    For a square mask (``T_k`` omitted) this is the lower triangle including
    the diagonal, ``~isinf(nn.Transformer.generate_square_subsequent_mask(T))``
    and what ``F.scaled_dot_product_attention(is_causal=True)`` applies.

    With ``T_k > T_q`` the queries are the *last* ``T_q`` positions of the
    ``T_k`` keys (decoding with the keys of earlier steps kept): query ``i``
    sits at position ``i + T_k − T_q`` and sees every key up to it, so the
    last query sees all keys.  This is PyTorch's ``causal_lower_right``
    alignment; ``is_causal=True`` instead aligns non-square masks at the top
    left.

    Args:
        T_q: number of queries.
        T_k: number of keys (default ``T_q``); must be ``>= T_q`` so that
            every query sees at least one key.
        device: where to build the mask.

    Returns:
        bool ``[T_q, T_k]``.

    Shape:
        ``[T_q, T_k]``; broadcasts over ``[B, heads, T_q, T_k]``.
    """
    _check_size("causal_mask", "T_q", T_q, 1)
    T_k = T_q if T_k is None else _check_size("causal_mask", "T_k", T_k, T_q)
    ones = torch.ones(T_q, T_k, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=T_k - T_q)


def attention_mask(lengths: torch.Tensor | None, T_q: int, T_k: int | None = None, *, causal: bool = False,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """The mask of one attention call: key padding AND (optionally) look-ahead (notes §4.4.1–§4.4.2).

    ``mask[b, i, j] = (j < lengths[b]) and (not causal or j ≤ i + T_k − T_q)``.

    For self-attention ``T_k = T_q``; for decoder–encoder attention the keys
    are the encoder states (``T_k`` = source length, ``lengths`` the source
    lengths, ``causal=False``).  Padded *queries* are not masked: their rows
    still attend the real keys, so no row is empty and the softmax stays
    finite; their outputs are discarded by the loss's own padding mask.

    To use it with multi-head queries ``[B, heads, T_q, D]`` insert the head
    axis: ``attention_mask(...)[:, None]`` (``[B, 1, T_q, T_k]``).  A
    ``[B, T_q, T_k]`` mask next to 4-D queries would be broadcast against the
    head axis instead of the batch axis.

    Args:
        lengths: number of real keys per sequence, integers in ``[1, T_k]``
            (a row with no key to attend would make the softmax NaN);
            ``None``: no padding.
        T_q: number of queries.
        T_k: number of keys (default ``T_q``).
        causal: also apply :func:`causal_mask`.
        device: where to build the mask (default: the device of ``lengths``).

    Returns:
        bool ``[B, T_q, T_k]``, or ``[1, T_q, T_k]`` when ``lengths`` is ``None``.

    Shape:
        ``lengths [B]`` -> ``[B, T_q, T_k]``.
    """
    _check_size("attention_mask", "T_q", T_q, 1)
    T_k = T_q if T_k is None else _check_size("attention_mask", "T_k", T_k, 1)
    if causal and T_k < T_q:
        raise ValueError(f"attention_mask with causal=True needs T_k >= T_q (every query must see a key); "
                         f"got T_q={T_q}, T_k={T_k}")
    if lengths is None:
        mask = torch.ones(1, T_q, T_k, dtype=torch.bool, device=device)
    else:
        lengths = _check_lengths("attention_mask", lengths, T_k, 1)
        if device is not None:
            lengths = lengths.to(device)
        mask = lengths_to_mask(lengths, T_k)[:, None, :].expand(-1, T_q, -1)  # (B, T_q, T_k)
    if causal:
        mask = mask & causal_mask(T_q, T_k, device=mask.device)[None]
    return mask.contiguous()
