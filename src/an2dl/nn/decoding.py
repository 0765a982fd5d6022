"""Greedy and beam-search decoding over a step function (notes §4.2: y' = argmax_y Π_t Pr(y_t | y_<t, x, θ)).

Any autoregressive decoder — the recurrent one of :mod:`an2dl.models.seq2seq`,
later the Transformer — is driven through one *step function*::

    step(tokens [N], state) -> (log_probs [N, V], new_state)

``tokens`` are the previous token ids (``<sos>`` at the first step),
``log_probs`` the log-probabilities of the next token, and ``state`` whatever
the decoder carries (recurrent state, encoder outputs, padding mask, keys of
earlier steps).  Every tensor in ``state`` has the batch on its first axis:
beam search repeats and reorders states along it (``reorder_state`` changes
that for other layouts).

* :func:`greedy_decode` takes the most probable token at every step (notes §4.2
  "Greedy decoding"); it cannot revise a choice.
* :func:`beam_search` keeps the ``beam_width`` most probable prefixes
  (notes §4.2 "Beam search").  A hypothesis that emits ``<eos>`` stays in the
  beam with its score frozen (later it only appends ``<pad>`` at no cost), so
  finished and unfinished hypotheses compete on the same log-probability.  The
  search stops when every hypothesis has finished, or — without length
  normalisation — as soon as the best one has (log-probabilities only fall, so
  nothing can overtake it), or after ``max_length`` steps.  The answer is the
  hypothesis with the highest ``log P / length^α`` (length normalisation;
  α = 0 ranks by log-probability, α = 1 by log-probability per token).

Departures: Wu et al. (2016) normalise by ``((5 + length) / 6)^α``; we use the
plain ``length^α``.  Beam search is not guaranteed to beat greedy decoding in
general (the greedy prefix can fall out of the beam); the tests check that it
does on random models and that it equals exhaustive search when the beam holds
every sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["StepFunction", "DecodeResult", "greedy_decode", "beam_search", "repeat_state", "select_state",
           "check_sampling", "sample_next_token"]

#: ``step(tokens [N], state) -> (log_probs [N, V], new_state)``
StepFunction = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]

# the fixed special ids of an2dl.data.text.specials (DESIGN §4); repeated here because data imports nn
_PAD, _SOS, _EOS = 0, 2, 3


@dataclass
class DecodeResult:
    """Decoded sequences.

    Attributes:
        tokens: int64 ``[B, T]``, the generated ids after ``<sos>``, up to and including ``<eos>``,
            then ``pad``.
        lengths: int64 ``[B]``, generated tokens per row (``<eos>`` counted).
        log_prob: ``[B]``, ``Σ_t log P(y_t | y_<t, x)`` of each sequence.
        score: ``[B]``, ``log_prob / lengths^α`` (equal to ``log_prob`` for greedy decoding).
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    log_prob: torch.Tensor
    score: torch.Tensor


def _map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple):
        return tuple(_map_state(s, fn) for s in state)
    if isinstance(state, list):
        return [_map_state(s, fn) for s in state]
    if isinstance(state, dict):
        return {k: _map_state(v, fn) for k, v in state.items()}
    return state


def repeat_state(state: Any, times: int) -> Any:
    """Repeat every tensor of ``state`` ``times`` times along the batch axis 0 (row b -> rows b*times ...)."""
    return _map_state(state, lambda t: t.repeat_interleave(times, dim=0))


def select_state(state: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of every tensor of ``state`` along the batch axis 0."""
    return _map_state(state, lambda t: t.index_select(0, index))


def _check_common(batch_size: Any, max_length: Any) -> None:
    for name, value in (("batch_size", batch_size), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _check_log_probs(log_probs: Any, n: int) -> torch.Tensor:
    if not isinstance(log_probs, torch.Tensor) or log_probs.dim() != 2 or log_probs.shape[0] != n:
        got = list(log_probs.shape) if isinstance(log_probs, torch.Tensor) else type(log_probs).__name__
        raise ValueError(f"the step function must return log_probs [N={n}, V]; got {got}")
    return log_probs


# ---------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def greedy_decode(step: StepFunction, state: Any, *, batch_size: int, max_length: int, sos: int = _SOS,
                  eos: int = _EOS, pad: int = _PAD, device: torch.device | str | None = None) -> DecodeResult:
    """Greedy decoding: ``y_t = argmax_v log P(v | y_<t, x)`` until ``<eos>`` or ``max_length`` tokens.

    Args:
        step: the step function (module docstring).
        state: the decoder's initial state, batch on axis 0 of every tensor.
        batch_size: B.
        max_length: most tokens generated per row (``<eos>`` included).
        sos, eos, pad: special ids (default: an2dl's ``<sos>``, ``<eos>``, ``<pad>``).
        device: where the token tensors live.

    Returns:
        :class:`DecodeResult` with ``score == log_prob``.
    """
    _check_common(batch_size, max_length)
    tokens = torch.full((batch_size,), sos, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    total = torch.zeros(batch_size, dtype=torch.float64, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    out = []
    for _ in range(max_length):
        lengths += (~finished).long()
        log_probs, state = step(tokens, state)
        log_probs = _check_log_probs(log_probs, batch_size)
        best, tokens = log_probs.max(dim=-1)
        tokens = torch.where(finished, torch.full_like(tokens, pad), tokens)
        total += torch.where(finished, torch.zeros_like(best), best).double()
        out.append(tokens)
        finished = finished | (tokens == eos)
        if bool(finished.all()):
            break
    seq = torch.stack(out, dim=1)  # (B, T)
    return DecodeResult(seq, lengths, total, total.clone())


@torch.no_grad()
def beam_search(step: StepFunction, state: Any, *, batch_size: int, beam_width: int, max_length: int,
                length_penalty: float = 0.0, sos: int = _SOS, eos: int = _EOS, pad: int = _PAD,
                device: torch.device | str | None = None,
                repeat: Callable[[Any, int], Any] = repeat_state,
                reorder_state: Callable[[Any, torch.Tensor], Any] = select_state) -> DecodeResult:
    """Batched beam search: keep the ``beam_width`` most probable prefixes of every row (notes §4.2).

    Args:
        step: the step function (module docstring); it is called on ``B * beam_width`` rows,
            row ``b * beam_width + k`` being hypothesis k of sequence b.
        state: the decoder's initial state for B rows, batch on axis 0 of every tensor.
        batch_size: B.
        beam_width: K >= 1 hypotheses kept per row (K = 1 is greedy decoding).
        max_length: most tokens generated per hypothesis (``<eos>`` included).
        length_penalty: α >= 0; the answer maximises ``log P / length^α``.
        sos, eos, pad: special ids.
        device: where the token tensors live.
        repeat, reorder_state: repeat the initial state K times per row, and pick rows of a state;
            the defaults act on axis 0 of every tensor.

    Returns:
        :class:`DecodeResult` of the best hypothesis of each row.

    Raises:
        ValueError: ``beam_width`` is not a positive integer, ``length_penalty`` is negative, or the
            step function returns log-probabilities of the wrong shape.
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer (1 = greedy decoding); got {beam_width!r}")
    if not isinstance(length_penalty, (int, float)) or isinstance(length_penalty, bool) or length_penalty < 0:
        raise ValueError(f"length_penalty (α) must be a number >= 0; got {length_penalty!r}")
    _check_common(batch_size, max_length)
    B, K = batch_size, beam_width
    state = repeat(state, K)
    tokens = torch.full((B * K,), sos, dtype=torch.long, device=device)
    # only the first copy of each row is live at the start, so the K first tokens differ
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    seqs = torch.zeros(B, K, 0, dtype=torch.long, device=device)
    offsets = (torch.arange(B, device=device) * K)[:, None]  # (B, 1)
    for _ in range(max_length):
        log_probs, state = step(tokens, state)
        log_probs = _check_log_probs(log_probs, B * K).double()
        V = log_probs.shape[1]
        log_probs = log_probs.view(B, K, V)
        # a finished hypothesis may only append <pad>, at no cost
        frozen = torch.full((V,), float("-inf"), dtype=log_probs.dtype, device=log_probs.device)
        frozen[pad] = 0.0
        log_probs = torch.where(finished[:, :, None], frozen, log_probs)
        candidates = (scores[:, :, None] + log_probs).view(B, K * V)  # (B, K*V)
        scores, index = candidates.topk(K, dim=1)  # (B, K), sorted
        beam, tok = index // V, index % V
        seqs = torch.cat([seqs.gather(1, beam[:, :, None].expand(-1, -1, seqs.shape[2])), tok[:, :, None]], dim=2)
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).long()
        finished = was_finished | (tok == eos)
        rows = (offsets + beam).reshape(-1)  # (B*K,) the parent of every new hypothesis
        state = reorder_state(state, rows)
        tokens = tok.reshape(-1)
        if bool(finished.all()) or (length_penalty == 0 and bool(finished[:, 0].all())):
            break
    normalised = scores / lengths.clamp(min=1).double().pow(length_penalty)
    normalised = normalised.masked_fill(torch.isinf(scores), float("-inf"))
    best = normalised.argmax(dim=1)  # (B,)
    pick = best[:, None]
    return DecodeResult(seqs.gather(1, pick[:, :, None].expand(-1, -1, seqs.shape[2]))[:, 0],
                        lengths.gather(1, pick)[:, 0], scores.gather(1, pick)[:, 0],
                        normalised.gather(1, pick)[:, 0])


def check_sampling(owner: str, vocab_size: int, max_new_tokens: Any, temperature: Any, top_k: Any) -> None:
    """Check the arguments of a language model's ``generate``; errors name ``owner`` and the argument."""
    from ..errors import ConfigError

    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"{owner} max_new_tokens must be an integer >= 0; got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ConfigError(f"{owner} temperature must be a number >= 0; got {temperature!r}")
    if top_k is not None and not (isinstance(top_k, int) and not isinstance(top_k, bool) and 1 <= top_k <= vocab_size):
        raise ConfigError(f"{owner} top_k must be an integer in [1, {vocab_size}]; got {top_k!r}")


def sample_next_token(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw the next token from ``softmax(logits / temperature)`` (sampling, the alternative of the notes §4.2 to
    greedy and beam decoding).

    Args:
        logits: ``[B, V]`` scores of the next token.
        temperature: divides the logits; ``0`` takes the most likely token (greedy).
        top_k: sample among the ``top_k`` most likely tokens only (ties with the k-th kept).
        generator: random generator for reproducible samples.

    Returns:
        int64 ``[B, 1]`` token ids.
    """
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
