"""Written-out backpropagation (:class:`~an2dl.nn.backprop.ManualMLP`) against autograd on the same MLP."""

from __future__ import annotations

import time

import torch

from . import register_benchmark

__all__ = ["backprop"]


def _time(fn, repeats: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


@register_benchmark("backprop")
def backprop(quick: bool = False) -> dict:
    """Time of one gradient computation (forward + backward) by hand vs by autograd.

    The same 784-512-256-10 ReLU MLP with a softmax output and the
    cross-entropy of its probabilities, float32, batch 256: the written-out
    chain rule of :class:`ManualMLP` (forward storing ``g'(a)``, backward with
    ``loss_gradient``) against ``loss.backward()`` through the registered
    ``mlp`` model.  The gradients are checked to agree before timing.
    """
    from ..models import get_model
    from ..nn.backprop import ManualMLP, loss_gradient, loss_value

    sizes, batch = (784, 512, 256, 10), 256
    repeats, rounds = (5, 2) if quick else (30, 3)
    torch.manual_seed(0)
    model = get_model("mlp", in_features=sizes[0], hidden=list(sizes[1:-1]), num_outputs=sizes[-1], activation="relu",
                      output="softmax")
    manual = ManualMLP.from_module(model)
    x = torch.rand(batch, sizes[0])
    t = torch.nn.functional.one_hot(torch.randint(0, sizes[-1], (batch,)), sizes[-1]).float()
    params = [p for m in model.linear_layers() for p in (m.weight, m.bias)]

    def by_hand():
        y = manual.forward(x)
        return manual.backward(loss_gradient("cross_entropy", y, t))

    def by_autograd():
        return torch.autograd.grad(loss_value("cross_entropy", model.output(x), t), params)

    ours, ref = by_hand(), by_autograd()
    max_diff = max(float((a - b).abs().max()) for a, b in zip([g for wb in zip(ours.weights, ours.biases) for g in wb], ref))
    by_hand(), by_autograd()  # warm-up
    hand_s, auto_s = _time(by_hand, repeats, rounds), _time(by_autograd, repeats, rounds)
    ratio = hand_s / auto_s
    print(f"written-out backprop: {hand_s * 1e3:.3f} ms per forward+backward")
    print(f"autograd:             {auto_s * 1e3:.3f} ms per forward+backward")
    print(f"ratio written-out / autograd = {ratio:.3f}  (MLP {'-'.join(map(str, sizes))}, batch {batch}, float32, "
          f"best of {rounds}x{repeats}; max gradient difference {max_diff:.2e})")
    return {"manual_s": hand_s, "autograd_s": auto_s, "ratio": ratio, "max_abs_diff": max_diff, "batch_size": batch}
