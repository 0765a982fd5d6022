"""Attention (notes §4.4): the written-out equation against the fused kernel, and our Transformer against
``nn.Transformer``.

Two measurements, each a ratio against a baseline run in the same process:

1. ``softmax(QKᵀ/√d)V`` written out (:func:`~an2dl.nn.transformer.scaled_dot_product_attention`)
   against ``F.scaled_dot_product_attention`` (:func:`~an2dl.nn.transformer.fused_attention`),
   over sequence lengths 64 … 2048 with the look-ahead mask: time of a forward call and the
   peak memory of the tensors it allocates.  The written-out path materialises the
   ``[B, h, T, T]`` scores and weights, so its memory grows as ``T²``; the fused kernel
   works in blocks and keeps only its output.
2. Training throughput (tokens per second of forward + backward) of
   :class:`~an2dl.nn.transformer.Transformer` against ``nn.Transformer`` at the same
   sizes, with the same weights and masks (goal: at most 1.1× the time).

Peak memory is counted by a ``TorchDispatchMode`` that adds the bytes of every
storage an operator returns and subtracts them when the tensor is freed: the
high-water mark of the tensors alive during the call, the inputs excluded.  It
sees what operators return, not a kernel's internal scratch space.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from . import register_benchmark
from .recurrent import _best_time

__all__ = ["attention", "peak_tensor_bytes"]


class _PeakTensorMemory(TorchDispatchMode):
    """Live bytes of the storages returned by operators while the mode is active, and their maximum."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - the dispatch protocol
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key in self._seen or storage.nbytes() == 0:
                continue  # a view of a storage already counted
            self._seen.add(key)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._free, key, storage.nbytes())
        return out


def peak_tensor_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes of the tensors ``fn()`` allocates and holds at once (its inputs excluded), under ``no_grad``."""
    with torch.no_grad(), _PeakTensorMemory() as mode:
        result = fn()
        del result
    return mode.peak


def _compare_attention(lengths: tuple[int, ...], batch: int, heads: int, head_dim: int, repeats: int) -> dict:
    from ..nn.masks import causal_mask
    from ..nn.transformer import fused_attention, scaled_dot_product_attention

    rows = {}
    print(f"attention, B={batch}, h={heads}, d={head_dim}, look-ahead mask, forward:")
    print(f"{'T':>6} {'written ms':>11} {'fused ms':>9} {'time ratio':>10} {'written MiB':>12} {'fused MiB':>10} "
          f"{'memory ratio':>12}")
    g = torch.Generator().manual_seed(0)
    for T in lengths:
        q, k, v = (torch.randn(batch, heads, T, head_dim, generator=g) for _ in range(3))
        mask = causal_mask(T)
        cands = {"written": lambda q=q, k=k, v=v, mask=mask: scaled_dot_product_attention(q, k, v, mask)[0],
                 "fused": lambda q=q, k=k, v=v, mask=mask: fused_attention(q, k, v, mask)}
        with torch.no_grad():
            for fn in cands.values():  # warm-up
                fn()
            times = {name: float("inf") for name in cands}
            for _ in range(2):  # interleaved rounds, so that load drifts hit both alike
                for name, fn in cands.items():
                    times[name] = min(times[name], _best_time(fn, repeats))
        mem = {name: peak_tensor_bytes(fn) for name, fn in cands.items()}
        r = {"written_s": times["written"], "fused_s": times["fused"],
             "time_ratio_written_vs_fused": times["written"] / times["fused"],
             "written_bytes": mem["written"], "fused_bytes": mem["fused"],
             "memory_ratio_written_vs_fused": mem["written"] / max(mem["fused"], 1)}
        rows[T] = r
        print(f"{T:>6} {r['written_s'] * 1e3:>11.2f} {r['fused_s'] * 1e3:>9.2f} {r['time_ratio_written_vs_fused']:>10.2f} "
              f"{mem['written'] / 2**20:>12.2f} {mem['fused'] / 2**20:>10.2f} {r['memory_ratio_written_vs_fused']:>12.1f}")
    return rows


def _train_step(model: nn.Module, src: torch.Tensor, tgt: torch.Tensor, masks: dict) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(src, tgt, **masks).sum().backward()

    return step


def _compare_transformer(*, batch: int, src_len: int, tgt_len: int, d_model: int, heads: int, layers: int,
                         ffn: int, repeats: int, rounds: int) -> dict:
    from ..nn.masks import causal_mask, lengths_to_mask
    from ..nn.transformer import Transformer

    torch.manual_seed(0)
    kw = {"num_encoder_layers": layers, "num_decoder_layers": layers, "dim_feedforward": ffn, "dropout": 0.1}
    ref = nn.Transformer(d_model=d_model, nhead=heads, batch_first=True, **kw)
    ours = Transformer(d_model=d_model, num_heads=heads, **kw)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.train()
    ours.train()
    src, tgt = torch.randn(batch, src_len, d_model), torch.randn(batch, tgt_len, d_model)
    lengths = torch.randint(src_len // 2, src_len + 1, (batch,), generator=torch.Generator().manual_seed(0))
    lengths[0] = src_len
    valid = lengths_to_mask(lengths, src_len)
    look = causal_mask(tgt_len)
    cands = {
        "ours": _train_step(ours, src, tgt, {"src_mask": valid[:, None, None, :], "tgt_mask": look,
                                             "memory_mask": valid[:, None, None, :]}),
        "torch": _train_step(ref, src, tgt, {"src_key_padding_mask": ~valid, "tgt_mask": ~look,
                                             "memory_key_padding_mask": ~valid}),
    }
    for fn in cands.values():
        fn()
    times = {name: float("inf") for name in cands}
    for _ in range(rounds):
        for name, fn in cands.items():
            times[name] = min(times[name], _best_time(fn, repeats))
    tokens = batch * (src_len + tgt_len)
    ratio = times["ours"] / times["torch"]
    for name, label in (("ours", "an2dl Transformer"), ("torch", "torch.nn.Transformer")):
        print(f"training: {label:<21} {times[name] * 1e3:8.2f} ms/step  {tokens / times[name]:10.0f} tokens/s")
    print(f"training: ratio an2dl / torch = {ratio:.3f}   (goal <= 1.1; B={batch}, S={src_len}, T={tgt_len}, "
          f"D={d_model}, h={heads}, {layers}+{layers} layers, FFN {ffn}, dropout 0.1, forward + backward)")
    return {"ours_s": times["ours"], "torch_s": times["torch"], "ours_tokens_per_s": tokens / times["ours"],
            "torch_tokens_per_s": tokens / times["torch"], "ratio_ours_vs_torch": ratio}


@register_benchmark("attention")
def attention(quick: bool = False, *, lengths: tuple[int, ...] | None = None) -> dict:
    """Written-out vs fused attention over sequence lengths, and our Transformer's training speed vs PyTorch's.

    Args:
        quick: small sizes (a few seconds).
        lengths: the sequence lengths of the attention comparison (default 64 … 2048, quick 32, 64).

    Returns:
        ``{"attention": {T: {written_s, fused_s, time_ratio_written_vs_fused, written_bytes, fused_bytes,
        memory_ratio_written_vs_fused}}, "transformer": {ours_s, torch_s, ours_tokens_per_s,
        torch_tokens_per_s, ratio_ours_vs_torch}}``.
    """
    if lengths is None:
        lengths = (32, 64) if quick else (64, 128, 256, 512, 1024, 2048)
    att = _compare_attention(tuple(lengths), batch=1 if quick else 2, heads=2 if quick else 4,
                             head_dim=16 if quick else 64, repeats=2 if quick else 3)
    if quick:
        sizes = {"batch": 4, "src_len": 12, "tgt_len": 10, "d_model": 16, "heads": 2, "layers": 1, "ffn": 32,
                 "repeats": 2, "rounds": 2}
    else:
        sizes = {"batch": 32, "src_len": 64, "tgt_len": 64, "d_model": 128, "heads": 4, "layers": 2, "ffn": 512,
                 "repeats": 5, "rounds": 3}
    return {"attention": att, "transformer": _compare_transformer(**sizes)}
