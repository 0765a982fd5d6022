"""Recurrent cells and layers: the written-out equations against PyTorch's kernels (float64, 1e-10)."""

import copy
import itertools

import pytest
import torch
from torch import nn

from an2dl.errors import ConfigError
from an2dl.nn.masks import lengths_to_mask, mask_to_lengths
from an2dl.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    Recurrent,
    RNNCell,
    detach_state,
    gru_cell,
    lstm_cell,
    recurrent_layer,
    rnn_cell,
    state_gradient_norms,
)

TOL = 1e-10
D, H = 3, 4


def _max_diff(a, b) -> float:
    if isinstance(a, (tuple, list)):
        return max(_max_diff(x, y) for x, y in zip(a, b))
    return float((a - b).detach().abs().max())


# ---------------------------------------------------------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_equal_pytorch_cells_in_float64(kind, bias):
    torch.manual_seed(0)
    if kind.startswith("rnn"):
        nl = kind.split("_")[1]
        ours, ref = RNNCell(input_size=D, hidden_size=H, bias=bias, nonlinearity=nl), nn.RNNCell(D, H, bias, nonlinearity=nl)
    elif kind == "lstm":
        ours, ref = LSTMCell(input_size=D, hidden_size=H, bias=bias), nn.LSTMCell(D, H, bias)
    else:
        ours, ref = GRUCell(input_size=D, hidden_size=H, bias=bias), nn.GRUCell(D, H, bias)
    ours.load_state_dict(ref.state_dict())  # same names and shapes
    ours.double(), ref.double()
    x = torch.randn(5, D, dtype=torch.float64, requires_grad=True)
    h = torch.randn(5, H, dtype=torch.float64, requires_grad=True)
    state = (h, torch.randn(5, H, dtype=torch.float64)) if kind == "lstm" else h
    results = []
    for m in (ours, ref):
        m.zero_grad()
        x.grad = h.grad = None
        out = m(x, state)
        loss = sum((o ** 2).sum() for o in (out if isinstance(out, tuple) else (out,)))
        loss.backward()
        results.append((out, x.grad.clone(), h.grad.clone(), [p.grad.clone() for p in m.parameters()]))
    assert _max_diff(results[0][0], results[1][0]) < TOL
    assert _max_diff(results[0][1:3], results[1][1:3]) < TOL
    assert _max_diff(results[0][3], results[1][3]) < TOL


def test_lstm_cell_follows_the_gate_equations():
    torch.manual_seed(1)
    cell = LSTMCell(input_size=D, hidden_size=H).double()
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (D, H, H))
    W, U, b = cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh

    def gate(k, act):  # one gate written on its own rows of the stacked weights
        rows = slice(k * H, (k + 1) * H)
        return act(x @ W[rows].T + h @ U[rows].T + b[rows])

    i, f, g, o = gate(0, torch.sigmoid), gate(1, torch.sigmoid), gate(2, torch.tanh), gate(3, torch.sigmoid)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    got_h, got_c = cell(x, (h, c))
    assert _max_diff((got_h, got_c), (h_new, c_new)) < 1e-12


def test_gru_reset_before_follows_cho_et_al():
    torch.manual_seed(2)
    cell = GRUCell(input_size=D, hidden_size=H, reset_after=False).double()
    x, h = torch.randn(2, D, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64)
    W, U, bi, bh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    r_, z_, n_ = (slice(k * H, (k + 1) * H) for k in range(3))
    r = torch.sigmoid(x @ W[r_].T + bi[r_] + h @ U[r_].T + bh[r_])
    z = torch.sigmoid(x @ W[z_].T + bi[z_] + h @ U[z_].T + bh[z_])
    n = torch.tanh(x @ W[n_].T + bi[n_] + (r * h) @ U[n_].T + bh[n_])
    expected = (1 - z) * n + z * h
    assert _max_diff(cell(x, h), expected) < 1e-12
    after = gru_cell(x, h, W, U, bi, bh, reset_after=True)
    assert _max_diff(after, expected) > 1e-4  # the two forms really differ


def test_functional_cells_and_zero_default_state():
    torch.manual_seed(3)
    cell = RNNCell(input_size=D, hidden_size=H)
    x = torch.randn(2, D)
    assert torch.equal(cell(x), rnn_cell(x, torch.zeros(2, H), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
    lcell = LSTMCell(input_size=D, hidden_size=H, forget_bias=1.0)
    assert torch.all(lcell.bias_ih[H:2 * H] == 1.0) and torch.all(lcell.bias_hh[H:2 * H] == 0.0)
    z = torch.zeros(2, H)
    assert _max_diff(lcell(x), lstm_cell(x, (z, z), lcell.weight_ih, lcell.weight_hh, lcell.bias_ih, lcell.bias_hh)) == 0


def test_cell_bad_input():
    cell = LSTMCell(input_size=D, hidden_size=H)
    with pytest.raises(ValueError, match=r"x must have shape \[B, input_size=3\]"):
        cell(torch.randn(2, 5, D))
    with pytest.raises(ValueError, match=r"state c must have shape \[B=2, hidden_size=4\]"):
        cell(torch.randn(2, D), (torch.zeros(2, H), torch.zeros(2, H + 1)))
    with pytest.raises(TypeError, match="tuple"):
        cell(torch.randn(2, D), torch.zeros(2, H))
    with pytest.raises(ConfigError, match="hidden_size must be a positive integer"):
        RNNCell(input_size=D, hidden_size=0)
    with pytest.raises(ConfigError, match="nonlinearity"):
        RNNCell(input_size=D, hidden_size=H, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="forget_bias needs bias=True"):
        LSTMCell(input_size=D, hidden_size=H, bias=False, forget_bias=1.0)


# --------------------------------------------------------------------------------------- layers: both paths are equal
def _run(layer, backend, x, state, lengths):
    layer.backend = backend
    layer.zero_grad()
    x.grad = None
    for s in state or ():
        s.grad = None
    given = None if state is None else (state if layer.mode == "lstm" else state[0])
    out, final = layer(x, given, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    # a loss touching every output and the final state, with unequal weights per position
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (w * out).pow(2).sum() + sum(f.pow(3).sum() for f in finals)
    loss.backward()
    grads = [x.grad.clone()] + [s.grad.clone() for s in state or ()]
    grads += [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in layer.parameters()]
    return [out.detach(), *[f.detach() for f in finals]], grads


CONFIGS = list(itertools.product(["rnn", "lstm", "gru"], [1, 2], [False, True], ["none", "ragged"],
                                 ["zeros", "given", "learnable"]))


@pytest.mark.parametrize("mode,layers,bidirectional,lengths,init", CONFIGS)
def test_written_out_and_fused_paths_are_equal(mode, layers, bidirectional, lengths, init):
    torch.manual_seed(hash((mode, layers, bidirectional, lengths, init)) % 1000)
    layer = recurrent_layer(mode, input_size=D, hidden_size=H, num_layers=layers, bidirectional=bidirectional,
                            initial_state="learnable" if init == "learnable" else "zeros").double()
    B, T = 4, 6
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([6, 2, 5, 1]) if lengths == "ragged" else None
    state = None
    if init == "given":
        n = 2 if mode == "lstm" else 1
        state = [torch.randn(layers * (2 if bidirectional else 1), B, H, dtype=torch.float64, requires_grad=True)
                 for _ in range(n)]
    assert layer.uses_fused()
    out_c, grad_c = _run(layer, "cells", x, state, lens)
    out_f, grad_f = _run(layer, "fused", x, state, lens)
    assert _max_diff(out_c, out_f) < TOL
    assert _max_diff(grad_c, grad_f) < TOL
    if init == "learnable":
        assert layer.initial_h.grad is not None and float(layer.initial_h.grad.abs().sum()) > 0


@pytest.mark.parametrize("mode,extra", [("rnn", {"nonlinearity": "relu", "bias": False}),
                                        ("lstm", {"bias": False, "forget_bias": None}),
                                        ("gru", {"bias": False}), ("lstm", {"forget_bias": 1.0})])
def test_paths_are_equal_without_bias_relu_and_forget_bias(mode, extra):
    torch.manual_seed(4)
    extra = {k: v for k, v in extra.items() if v is not None}
    layer = recurrent_layer(mode, input_size=D, hidden_size=H, num_layers=2, **extra).double()
    x = torch.randn(3, 5, D, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([5, 3, 4])
    out_c, grad_c = _run(layer, "cells", x, None, lens)
    out_f, grad_f = _run(layer, "fused", x, None, lens)
    assert _max_diff(out_c, out_f) < TOL and _max_diff(grad_c, grad_f) < TOL


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_dropout_between_layers_draws_the_same_masks_on_both_paths(mode):
    layer = recurrent_layer(mode, input_size=D, hidden_size=H, num_layers=3, dropout=0.5, bidirectional=True).double()
    x = torch.randn(2, 7, D, dtype=torch.float64)
    outs = []
    for backend in ("cells", "fused"):
        layer.backend = backend
        torch.manual_seed(11)
        outs.append(layer(x)[0])
    assert _max_diff(outs[0], outs[1]) < TOL
    layer.eval()
    evaluated = layer(x)[0]
    assert _max_diff(evaluated, outs[0]) > 1e-3  # dropout really acted in training mode
    layer.backend = "cells"
    assert _max_diff(layer(x)[0], evaluated) < TOL


def test_state_dict_is_pytorchs_and_fused_output_matches_nn_lstm():
    torch.manual_seed(5)
    ours = LSTM(input_size=D, hidden_size=H, num_layers=2, bidirectional=True)
    ref = nn.LSTM(D, H, num_layers=2, bidirectional=True, batch_first=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, D)
    (o1, (h1, c1)), (o2, (h2, c2)) = ours(x), ref(x)
    assert torch.equal(o1, o2) and torch.equal(h1, h2) and torch.equal(c1, c2)
    learnable = GRU(input_size=D, hidden_size=H, initial_state="learnable")
    assert set(learnable.state_dict()) - set(nn.GRU(D, H).state_dict()) == {"initial_h"}


def test_variable_lengths_mean_running_each_sequence_alone():
    torch.manual_seed(6)
    layer = LSTM(input_size=D, hidden_size=H, num_layers=2, bidirectional=True).double()
    x = torch.randn(3, 6, D, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 1])
    for backend in ("cells", "fused"):
        layer.backend = backend
        out, (h, c) = layer(x, lengths=lengths)
        for b, n in enumerate(lengths.tolist()):
            alone, (ha, ca) = layer(x[b:b + 1, :n])
            assert _max_diff(out[b:b + 1, :n], alone) < TOL
            assert float(out[b, n:].detach().abs().sum()) == 0.0  # zero past the end
            assert _max_diff(h[:, b], ha[:, 0]) < TOL and _max_diff(c[:, b], ca[:, 0]) < TOL


def test_mask_is_equivalent_to_lengths_and_must_be_a_prefix():
    layer = GRU(input_size=D, hidden_size=H)
    x = torch.randn(2, 4, D)
    lengths = torch.tensor([4, 2])
    mask = lengths_to_mask(lengths, 4)
    assert mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert torch.equal(mask_to_lengths(mask), lengths)
    assert torch.equal(layer(x, mask=mask)[0], layer(x, lengths=lengths)[0])
    with pytest.raises(ValueError, match="prefix"):
        layer(x, mask=torch.tensor([[True, False, True, True], [True] * 4]))
    with pytest.raises(ConfigError, match="lengths or mask, not both"):
        layer(x, lengths=lengths, mask=mask)


def test_full_lengths_take_the_unpacked_path_and_lists_are_accepted():
    layer = RNN(input_size=D, hidden_size=H)
    x = torch.randn(2, 4, D)
    assert torch.equal(layer(x, lengths=[4, 4])[0], layer(x)[0])


def test_learnable_initial_state_is_used_trained_and_overridden():
    torch.manual_seed(7)
    layer = LSTM(input_size=D, hidden_size=H, num_layers=2, initial_state="learnable")
    h0, c0 = layer.initial_state(3)
    assert h0.shape == c0.shape == (2, 3, H)
    assert torch.equal(h0[:, 0], layer.initial_h[:, 0]) and torch.equal(h0[:, 2], layer.initial_h[:, 0])
    x = torch.randn(3, 5, D)
    out, _ = layer(x)
    out.sum().backward()
    assert float(layer.initial_h.grad.abs().sum()) > 0 and float(layer.initial_c.grad.abs().sum()) > 0
    given = (torch.zeros(2, 3, H), torch.zeros(2, 3, H))
    plain = LSTM(input_size=D, hidden_size=H, num_layers=2)
    plain.load_state_dict({k: v for k, v in layer.state_dict().items() if not k.startswith("initial_")})
    assert torch.equal(layer(x, given)[0], plain(x)[0])  # a given state wins over the learned one


def test_gru_reset_before_runs_on_cells_only():
    layer = GRU(input_size=D, hidden_size=H, reset_after=False)
    assert not layer.uses_fused() and "reset_after" in layer.fused_unsupported_reason()
    layer(torch.randn(2, 3, D), lengths=torch.tensor([3, 1]))
    with pytest.raises(ConfigError, match="backend='fused' is unavailable"):
        layer.backend = "fused"
    with pytest.raises(ConfigError, match="unavailable"):
        GRU(input_size=D, hidden_size=H, reset_after=False, backend="fused")


def test_dtype_and_copy_changes_keep_the_fused_path_in_sync():
    torch.manual_seed(8)
    layer = LSTM(input_size=D, hidden_size=H)
    x = torch.randn(2, 3, D)
    layer(x)  # builds the kernel's view of the float32 weights
    layer.double()
    x64 = x.double()
    layer.backend = "fused"
    fused = layer(x64)[0]
    layer.backend = "cells"
    assert fused.dtype == torch.float64 and _max_diff(fused, layer(x64)[0]) < TOL
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.weight_hh_l0.add_(1.0)
    twin.backend = layer.backend = "fused"
    assert _max_diff(twin(x64)[0], layer(x64)[0]) > 1e-3  # the copy owns its weights
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    twin.load_state_dict(state, assign=True)  # new Parameter objects are picked up
    assert _max_diff(twin(x64)[0], layer(x64)[0]) == 0


def test_detach_state():
    h = torch.zeros(1, requires_grad=True) * 2
    assert not detach_state((h, h))[0].requires_grad and detach_state(None) is None
    assert not detach_state(h).requires_grad
    with pytest.raises(TypeError):
        detach_state("h")


# ------------------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def lstm():
    return LSTM(input_size=D, hidden_size=H, num_layers=2)


@pytest.mark.parametrize("shape", [(5, D), (2, 5, D, 1), (2, 5, D + 1)])
def test_wrong_rank_or_feature_size(lstm, shape):
    with pytest.raises(ValueError, match=r"LSTM x must h"):
        lstm(torch.randn(*shape))


def test_bad_inputs_are_clear_errors(lstm):
    x = torch.randn(2, 5, D)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\].*max 6"):
        lstm(x, lengths=torch.tensor([6, 2]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\].*min 0"):
        lstm(x, lengths=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor of shape \[B=2\]"):
        lstm(x, lengths=torch.tensor([5, 2, 1]))
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor"):
        lstm(x, lengths=torch.tensor([5.0, 2.0]))
    with pytest.raises(ValueError, match=r"state h must have shape .* = \[2, 2, 4\]; got \[1, 2, 4\]"):
        lstm(x, (torch.zeros(1, 2, H), torch.zeros(2, 2, H)))
    with pytest.raises(ValueError, match=r"state c must have shape"):
        lstm(x, (torch.zeros(2, 2, H), torch.zeros(2, 3, H)))
    with pytest.raises(TypeError, match=r"state must be a tuple \(h, c\)"):
        lstm(x, torch.zeros(2, 2, H))
    with pytest.raises(TypeError, match="state must be a tensor"):
        GRU(input_size=D, hidden_size=H)(x, (torch.zeros(1, 2, H),))
    with pytest.raises(ValueError, match="dtype and device"):
        lstm(x, (torch.zeros(2, 2, H, dtype=torch.float64), torch.zeros(2, 2, H, dtype=torch.float64)))
    with pytest.raises(TypeError, match="floating-point"):
        lstm(torch.ones(2, 5, D, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one sequence"):
        lstm(torch.randn(2, 0, D))
    with pytest.raises(TypeError, match="must be a tensor"):
        lstm([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"mask must have shape \[B, T\]"):
        lstm(x, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        mask_to_lengths(torch.ones(2, 4))


@pytest.mark.parametrize("kwargs,match", [
    ({"hidden_size": 0}, "hidden_size must be a positive integer"),
    ({"num_layers": 0}, "num_layers must be a positive integer"),
    ({"dropout": 0.5}, "dropout acts between stacked layers"),
    ({"dropout": 1.0, "num_layers": 2}, r"dropout must be a number in \[0, 1\)"),
    ({"initial_state": "random"}, "initial_state must be one of"),
    ({"backend": "cudnn"}, "backend must be one of"),
    ({"mode": "elman"}, "mode must be one of"),
    ({"nonlinearity": "sigmoid"}, "nonlinearity must be one of"),
    ({"forget_bias": 1.0, "mode": "gru"}, "forget_bias applies to an LSTM"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = {"mode": "lstm", "input_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(ConfigError, match=match):
        Recurrent(**args)
    with pytest.raises(ConfigError, match="cell must be one of"):
        recurrent_layer("transformer", input_size=D, hidden_size=H)


# ------------------------------------------------------------------------------------ vanishing gradients through time
def test_state_gradient_norms_are_the_total_derivatives():
    torch.manual_seed(9)
    layer = RNN(input_size=D, hidden_size=H).double()
    x = torch.randn(2, 6, D, dtype=torch.float64)
    got = state_gradient_norms(layer, x, lambda out, h: out[:, -1].pow(2).sum())
    # reference: unroll by hand with the cell function and ask autograd for each h_t
    h = torch.zeros(2, H, dtype=torch.float64)
    hs = []
    for t in range(6):
        h = rnn_cell(x[:, t], h, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
        hs.append(h)
    grads = torch.autograd.grad(h.pow(2).sum(), hs)
    expected = torch.stack([g.norm(dim=-1).mean() for g in grads])
    assert _max_diff(got, expected) < 1e-12


def test_gradients_vanish_through_a_plain_rnn_and_survive_an_open_forget_gate():
    torch.manual_seed(10)
    x = torch.randn(8, 60, 2)
    loss = lambda out, state: out[:, -1].sum()  # noqa: E731
    rnn = RNN(input_size=2, hidden_size=32)
    lstm = LSTM(input_size=2, hidden_size=32, forget_bias=3.0)  # f = σ(3) ≈ 0.95: the cell keeps its content
    g_rnn, g_lstm = state_gradient_norms(rnn, x, loss), state_gradient_norms(lstm, x, loss)
    assert g_rnn.shape == (60,)
    # ratio of the gradient 50 steps back to the one at the last step (measured: ~1e-12 vs ~1e-2)
    assert g_rnn[9] / g_rnn[-1] < 1e-8
    assert g_lstm[9] / g_lstm[-1] > 1e-3
    with pytest.raises(ConfigError, match="unidirectional"):
        state_gradient_norms(GRU(input_size=2, hidden_size=4, bidirectional=True), x, loss)
