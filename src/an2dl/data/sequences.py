"""Time series windows and synthetic sequence tasks (notes §4.1).

* :func:`sliding_windows` — the delay taps of a memoryless model: each
  sample is the last ``window`` observations, the target the next ``horizon``.
* :func:`chronological_splits` — train/validation/test windows cut from
  consecutive stretches of a series (no window straddles two splits).
* :func:`noisy_sine` — a sine wave observed through Gaussian noise.
* :func:`cued_sine` — a sine whose amplitude is set by sparse cue events:
  its next value depends on a cue that may lie further back than any fixed
  window of delay taps (the memory task of ``forecast-sine``).
* :func:`adding_problem` — Hochreiter & Schmidhuber's (1997) long-memory
  regression: add the two marked numbers of a long sequence.
* :func:`temporal_order` — Hochreiter & Schmidhuber's (1997) temporal-order
  classification, with variable lengths.
* :func:`leaky_integrator` — a first-order system with a fixed, non-zero
  initial condition: a task where a learnable initial state helps (§4.1.1.2).

Every generator is a pure function of its ``seed``.
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..nn.masks import lengths_to_mask
from .core import ArrayDataset, DataSplits, SequenceInfo
from .preprocess import Preprocess
from .text import Vocabulary
from .text.specials import EOS, PAD, SOS, SPECIALS, UNK

__all__ = [
    "sliding_windows",
    "chronological_splits",
    "noisy_sine",
    "cued_sine",
    "CUED_SINE_FEATURES",
    "adding_problem",
    "temporal_order",
    "temporal_order_texts",
    "leaky_integrator",
    "TEMPORAL_ORDER_SYMBOLS",
    "TEMPORAL_ORDER_CLASSES",
    "TEMPORAL_ORDER_VOCAB",
]


def _positive_int(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner} {name} must be a positive integer; got {value!r}")


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}")
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------------------
def sliding_windows(series: torch.Tensor, *, window: int, horizon: int = 1, stride: int = 1
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a series into (past window, next values) pairs — the delay taps of notes §4.1.

    Sample ``i`` is ``inputs[i] = series[s : s + window]`` and
    ``targets[i] = series[s + window : s + window + horizon]`` with ``s = i * stride``.

    Args:
        series: observations ``[N]`` or ``[N, D]`` (time first).
        window: number of past observations (delay taps) per sample.
        horizon: number of future observations to predict.
        stride: step between the starts of consecutive windows.

    Returns:
        ``(inputs [M, window, D], targets [M, horizon, D])`` with
        ``M = (N − window − horizon) // stride + 1``; a 1-D series gives ``D = 1``.
        Both are views of ``series`` where possible (``unfold``).

    Raises:
        ConfigError: non-positive sizes.
        ValueError: a series shorter than ``window + horizon`` or of rank > 2.
    """
    for name, v in (("window", window), ("horizon", horizon), ("stride", stride)):
        _positive_int("sliding_windows", name, v)
    series = torch.as_tensor(series)
    if series.dim() == 1:
        series = series.unsqueeze(1)
    if series.dim() != 2:
        raise ValueError(f"sliding_windows series must have shape [N] or [N, D]; got {list(series.shape)}")
    N = series.shape[0]
    if N < window + horizon:
        raise ValueError(f"sliding_windows needs a series of at least window + horizon = {window + horizon} steps; got {N}")
    # unfold over time: [M, D, window + horizon] -> [M, window + horizon, D]
    frames = series.unfold(0, window + horizon, stride).transpose(1, 2)
    return frames[:, :window], frames[:, window:]


def chronological_splits(
    series: torch.Tensor,
    *,
    window: int,
    horizon: int = 1,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    name: str = "series",
    features: list[str] | None = None,
) -> DataSplits:
    """Forecasting splits from one series: the first part trains, the next validates, the last tests.

    Windows are cut inside each part, so no validation or test target was ever
    an input or a target of a training window (no look-ahead leakage).  The
    input windows are cut by a ``window`` :class:`~an2dl.data.preprocess.Preprocess`,
    recorded in ``info.preprocess`` (what ``an2dl predict`` applies to a series file).

    Args:
        series: ``[N]`` or ``[N, D]``.
        window, horizon: see :func:`sliding_windows`.
        val_fraction, test_fraction: shares of the series (by time) for validation and test.
        name: dataset name recorded in the info.
        features: the names of the ``D`` columns (default ``["value"]`` for one, else ``x0, x1, …``).

    Returns:
        :class:`DataSplits` of ``(window [window, D], target [horizon * D])``
        pairs; the target is flattened so that a model predicts ``horizon * D`` numbers.
    """
    for fname, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ConfigError(f"chronological_splits {fname} must be in [0, 1); got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction must be < 1; got {val_fraction + test_fraction}")
    series = torch.as_tensor(series)
    series = series.unsqueeze(1) if series.dim() == 1 else series
    N = series.shape[0]
    n_test, n_val = int(round(N * test_fraction)), int(round(N * val_fraction))
    bounds = [(0, N - n_val - n_test), (N - n_val - n_test, N - n_test), (N - n_test, N)]

    d = int(series.shape[1])
    names = list(features) if features is not None else (["value"] if d == 1 else [f"x{i}" for i in range(d)])
    pre = Preprocess([{"op": "window", "size": window}], raw_input={"kind": "series", "features": names})

    def part(lo: int, hi: int) -> ArrayDataset | None:
        if hi - lo < window + horizon:
            return None
        _, y = sliding_windows(series[lo:hi], window=window, horizon=horizon)
        x = pre(series[lo:hi - horizon])  # the windows before each target: what predict cuts from a series file
        return ArrayDataset(x.contiguous().float(), y.reshape(len(y), -1).contiguous().float())

    train, val, test = (part(lo, hi) for lo, hi in bounds)
    if train is None:
        raise ValueError(f"chronological_splits: the training part ({bounds[0][1]} steps) is shorter than "
                         f"window + horizon = {window + horizon}")
    info = SequenceInfo(name=name, input_shape=(window, d), feature_size=d, preprocess=pre.to_dict(),
                       extra={"window": window, "horizon": horizon, "steps": N,
                              "bounds": {"train": bounds[0], "val": bounds[1], "test": bounds[2]}})
    return DataSplits(train=train, val=val, test=test, info=info)


# ---------------------------------------------------------------------------------------------------------------------
def noisy_sine(length: int, *, period: float = 25.0, amplitude: float = 1.0, noise_std: float = 0.2,
               phase: float = 0.0, seed: int = 0) -> torch.Tensor:
    """``y_t = A sin(2π t / period + φ) + ε_t`` with ``ε_t ~ N(0, noise_std²)``.

    Args:
        length: number of steps N.
        period: period in steps.
        amplitude: A.
        noise_std: standard deviation of the observation noise.
        phase: φ in radians.
        seed: seed of the noise.

    Returns:
        ``[N]`` float32.
    """
    _positive_int("noisy_sine", "length", length)
    if not period > 0 or noise_std < 0:
        raise ConfigError(f"noisy_sine needs period > 0 and noise_std >= 0; got period={period}, noise_std={noise_std}")
    t = torch.arange(length, dtype=torch.float64)
    clean = amplitude * torch.sin(2 * math.pi * t / period + phase)
    noise = torch.randn(length, generator=_generator(seed), dtype=torch.float64) * noise_std
    return (clean + noise).float()


#: the input columns of :func:`cued_sine`
CUED_SINE_FEATURES = ["cue", "carrier"]


def cued_sine(length: int, *, period: float = 25.0, noise_std: float = 0.1, min_gap: int = 24, max_gap: int = 48,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A sine whose amplitude is set by cues: an input-driven system with a memory longer than a delay window.

    Two inputs per step: the carrier ``s_t = sin(2π t / period + φ)`` (a known
    clock, φ drawn once) and the cue ``c_t``, zero except at cue events, spaced
    ``min_gap``–``max_gap`` steps apart (uniform), where it carries a new
    amplitude ``a ~ ±U[0.5, 1.5]`` (random sign).  The output is the carrier at
    the amplitude of the latest cue *before* step ``t``:

        y_t = a_t s_t + ε_t,   a_t = c_τ for the last cue τ < t (0 before the first),   ε_t ~ N(0, noise_std²)

    so ``y_t`` is a function of the inputs up to step ``t − 1`` plus noise: a
    one-step forecast.  A model that reads only the last ``W < min_gap`` inputs
    (the delay taps of notes §4.1) knows ``a_t`` only while the latest cue is
    among them, and for the rest of the time can only predict 0 (the sign is
    random); a model with a state can hold ``a_t`` from one cue to the next
    (§4.1.1).  It is NARMA-like — input-driven, non-linear (the product
    ``a_t s_t``) and with a long memory — with the memory made of one held number.

    Args:
        length: number of steps N.
        period: period of the carrier in steps.
        noise_std: standard deviation of ε (the noise floor of any forecast).
        min_gap, max_gap: the range of the steps between two cues (the first cue
            falls in ``[0, max_gap)``).
        seed: seed of the draw (phase, cue times and amplitudes, noise).

    Returns:
        ``(inputs [N, 2] = (cue, carrier), y [N], clean [N])`` float32, ``clean = a_t s_t`` without noise.
    """
    _positive_int("cued_sine", "length", length)
    _positive_int("cued_sine", "min_gap", min_gap)
    if not (isinstance(max_gap, int) and max_gap >= min_gap) or not period > 0 or noise_std < 0:
        raise ConfigError(f"cued_sine needs max_gap >= min_gap, period > 0 and noise_std >= 0; got min_gap={min_gap}, "
                          f"max_gap={max_gap}, period={period}, noise_std={noise_std}")
    g = _generator(seed)
    phase = 2 * math.pi * float(torch.rand((), generator=g, dtype=torch.float64))
    t = torch.arange(length, dtype=torch.float64)
    carrier = torch.sin(2 * math.pi * t / period + phase)
    first = int(torch.randint(0, max_gap, (), generator=g))
    gaps = torch.randint(min_gap, max_gap + 1, (length // min_gap + 1,), generator=g)
    times = (first + torch.cat([torch.zeros(1, dtype=torch.long), gaps.cumsum(0)]))
    times = times[times < length]
    values = (0.5 + torch.rand(len(times), generator=g, dtype=torch.float64)) * \
        torch.where(torch.rand(len(times), generator=g) < 0.5, -1.0, 1.0).double()
    cue = torch.zeros(length, dtype=torch.float64)
    cue[times] = values
    # a_t: the value of the latest cue strictly before t
    latest = torch.searchsorted(times, t.long(), right=False) - 1  # index of the last cue < t, -1 before the first
    amplitude = torch.where(latest >= 0, values[latest.clamp(min=0)], torch.zeros((), dtype=torch.float64))
    clean = amplitude * carrier
    y = clean + torch.randn(length, generator=g, dtype=torch.float64) * noise_std
    return torch.stack([cue, carrier], dim=1).float(), y.float(), clean.float()


def adding_problem(n: int, length: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4; the form of Le et al. 2015).

    Each step carries a value ``u_t ~ U[0, 1]`` and a marker ``m_t ∈ {0, 1}``;
    exactly two steps are marked, one in the first half and one in the second
    half of the sequence.  The target is the sum of the two marked values, so
    the first one must be remembered for up to ``length`` steps.  Predicting
    the constant 1 gives a mean squared error of 1/6 ≈ 0.167 (the variance of
    the sum); a model "solves" the task when it gets far below that.

    Args:
        n: number of sequences.
        length: T (≥ 2).
        seed: seed of the draw.

    Returns:
        ``(x [n, T, 2] float32 with x[..., 0] = u and x[..., 1] = m, y [n, 1] float32)``.
    """
    _positive_int("adding_problem", "n", n)
    _positive_int("adding_problem", "length", length)
    if length < 2:
        raise ConfigError(f"adding_problem length must be >= 2; got {length}")
    g = _generator(seed)
    half = length // 2
    values = torch.rand(n, length, generator=g)
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, markers], dim=-1), y


#: token ids of :func:`temporal_order`: the special tokens (B and E are <sos> and <eos>), then the symbols
TEMPORAL_ORDER_SYMBOLS = {SPECIALS[PAD]: PAD, SPECIALS[UNK]: UNK, "B": SOS, "E": EOS,
                          **{s: len(SPECIALS) + i for i, s in enumerate("abcdXY")}}
#: classes of :func:`temporal_order`: the two relevant symbols in order of appearance
TEMPORAL_ORDER_CLASSES = ["XX", "XY", "YX", "YY"]
#: the symbols as a character vocabulary with the same ids (``B``/``E`` are its <sos>/<eos>, not characters)
TEMPORAL_ORDER_VOCAB = Vocabulary(list("abcdXY"), tokenizer="char")
assert all(TEMPORAL_ORDER_VOCAB.stoi[s] == i for s, i in TEMPORAL_ORDER_SYMBOLS.items() if len(s) == 1 and s not in "BE")


def temporal_order(n: int, *, min_length: int = 20, max_length: int = 50, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Variable-length temporal-order task (Hochreiter & Schmidhuber 1997, experiment 6a).

    A sequence is ``B``, distractors drawn from ``a, b, c, d``, two relevant
    symbols ``X``/``Y`` — the first in the first 10–20 % of the sequence, the
    second in 50–60 % — and ``E``.  The class is the order of the two relevant
    symbols (XX, XY, YX, YY), so the model must remember the first for about
    half the sequence.  Departure from the paper: lengths are drawn uniformly
    in ``[min_length, max_length]`` (the paper: 100–110) and the relevant
    positions scale with each length.

    Args:
        n: number of sequences.
        min_length, max_length: range of lengths (inclusive; ≥ 10).
        seed: seed of the draw.

    Returns:
        ``(tokens [n, max_length] int64 padded with 0, lengths [n] int64, labels [n] int64 in [0, 4))``;
        ids as in :data:`TEMPORAL_ORDER_SYMBOLS` (vocabulary size 10).
    """
    _positive_int("temporal_order", "n", n)
    if not (isinstance(min_length, int) and isinstance(max_length, int) and 10 <= min_length <= max_length):
        raise ConfigError(f"temporal_order needs integers 10 <= min_length <= max_length; got {min_length}, {max_length}")
    g = _generator(seed)
    S = TEMPORAL_ORDER_SYMBOLS
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=g)
    tokens = torch.randint(S["a"], S["d"] + 1, (n, max_length), generator=g)
    labels = torch.randint(0, 4, (n,), generator=g)
    u1, u2 = torch.rand(n, generator=g), torch.rand(n, generator=g)
    lf = lengths.double()
    # relevant positions: 10-20 % and 50-60 % of the length (inside B ... E)
    t1 = (lf * (0.1 + 0.1 * u1.double())).long().clamp(min=1)
    t2 = (lf * (0.5 + 0.1 * u2.double())).long()
    rows = torch.arange(n)
    first_is_y, second_is_y = labels // 2, labels % 2
    tokens[rows, t1] = S["X"] + first_is_y
    tokens[rows, t2] = S["X"] + second_is_y
    tokens[:, 0] = S["B"]
    tokens[rows, lengths - 1] = S["E"]
    tokens = tokens.masked_fill(~lengths_to_mask(lengths, max_length), PAD)
    return tokens, lengths, labels


def temporal_order_texts(n: int, *, min_length: int = 20, max_length: int = 50, seed: int = 0
                         ) -> tuple[list[str], torch.Tensor]:
    """The sequences of :func:`temporal_order` (same draw) written as text, without ``B`` and ``E``.

    ``"acXdbb...Ya"``: the symbols between the start and end markers, the form
    a user writes (one sequence per line); the task's pipeline reads it back
    with ``<sos>``/``<eos>`` around it (:data:`TEMPORAL_ORDER_VOCAB`).

    Returns:
        ``(texts, labels [n] int64)``; each text holds ``length - 2`` symbols.
    """
    tokens, lengths, labels = temporal_order(n, min_length=min_length, max_length=max_length, seed=seed)
    texts = [TEMPORAL_ORDER_VOCAB.decode(row[1:int(k) - 1]) for row, k in zip(tokens, lengths)]
    return texts, labels


def leaky_integrator(n: int, length: int, *, decay: float = 0.9, initial_value: float = 2.0, input_std: float = 0.5,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A leaky integrator started from a fixed, unknown value: ``y_t = λ y_{t−1} + (1 − λ) u_t``, ``y_{−1} = y₀``.

    The response to the initial condition, ``λ^{t+1} y₀``, is the same for
    every sequence but cannot be produced by a zero initial state without
    first learning to detect the start of the sequence; a learnable initial
    state represents it directly (notes §4.1.1.2, "Initialization").

    Args:
        n: number of sequences.
        length: T.
        decay: λ in (0, 1).
        initial_value: y₀.
        input_std: standard deviation of the Gaussian inputs ``u_t``.
        seed: seed of the draw.

    Returns:
        ``(u [n, T, 1], y [n, T, 1])`` float32.
    """
    _positive_int("leaky_integrator", "n", n)
    _positive_int("leaky_integrator", "length", length)
    if not 0 < decay < 1:
        raise ConfigError(f"leaky_integrator decay must be in (0, 1); got {decay}")
    u = torch.randn(n, length, 1, generator=_generator(seed), dtype=torch.float64) * input_std
    y = torch.empty_like(u)
    prev = torch.full((n, 1), float(initial_value), dtype=torch.float64)
    for t in range(length):
        prev = decay * prev + (1 - decay) * u[:, t]
        y[:, t] = prev
    return u.float(), y.float()
