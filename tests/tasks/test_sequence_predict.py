"""``an2dl predict`` on series and texts through the recorded pipeline: windows, columns, bad input.

The models are exported untrained, as a recipe exports them (the dataset's
``info.preprocess`` in ``model.json``): what is tested is the path from a
file to the model's input, checked against the model called on the dataset's
own inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import an2dl
from an2dl.cli.main import main
from an2dl.export import export
from an2dl.tasks import SequenceClassificationTask, SequenceRegressionTask


def _predict(capsys, *args) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["predict", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def _export_forecaster(folder: Path, window: int = 4) -> tuple[torch.nn.Module, an2dl.data.DataSplits]:
    data = an2dl.get_dataset("cued-sine", length=400, window=window, warmup=8)
    torch.manual_seed(0)
    model = an2dl.get_model("delay_tap_mlp", window=window, input_size=2, hidden_sizes=[4])
    export(model, folder, **SequenceRegressionTask.export_metadata(
        preprocessing={"input_shape": [window, 2], **data.info.preprocess}))
    return model.eval(), data


def test_a_series_file_is_cut_into_the_models_windows(tmp_path, capsys):
    model, data = _export_forecaster(tmp_path / "model")
    x = data.test.tensors[0][:3]  # three consecutive windows: the rows of 6 steps
    rows = torch.cat([x[0], x[1:, -1]])  # [6, 2] (cue, carrier)
    csv = tmp_path / "s.csv"
    csv.write_text("carrier,time,cue\n" + "".join(f"{c!r},{i},{q!r}\n" for i, (q, c) in enumerate(rows.tolist())))
    code, lines, err = _predict(capsys, tmp_path / "model", csv)
    assert code == 0, err
    with torch.no_grad():
        expected = model(x)[:, 0]
    assert [line.split(": ")[0] for line in lines] == [f"{csv}[{a}:{a + 4}]" for a in range(3)]
    assert [float(line.split(": ")[1]) for line in lines] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-6)
    loaded = an2dl.load(tmp_path / "model")
    assert torch.equal(loaded.preprocess(rows), x)  # the same pipeline for Python users


def test_a_series_shorter_than_the_window_is_refused_naming_the_pipeline(tmp_path, capsys):
    _export_forecaster(tmp_path / "model", window=4)
    short = tmp_path / "short.csv"
    short.write_text("cue,carrier\n0,0.1\n1,0.2\n0,0.3\n")
    code, lines, err = _predict(capsys, tmp_path / "model", short)
    assert code == 1 and lines == []
    assert err.strip() == (f"an2dl: error: {short}: preprocessing step 0 ('window') cuts the series into windows of 4 "
                           "steps; got a series of 3 step(s) (columns cue, carrier); give at least 4 steps")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("value\n1\n2\n3\n4\n")
    code, _, err = _predict(capsys, tmp_path / "model", wrong)
    assert code == 1 and "the model reads the column(s) cue, carrier; the header value lacks cue, carrier" in err


def test_a_fixed_length_sequence_model_reads_one_file_per_sequence(tmp_path, capsys):
    data = an2dl.get_dataset("adding-problem", length=6, n_train=4, n_val=1, n_test=2)
    model = an2dl.get_model("recurrent_regressor", input_size=2, hidden_size=4)
    export(model, tmp_path / "model", **SequenceRegressionTask.export_metadata(
        preprocessing={"input_shape": [6, 2], **data.info.preprocess}))
    seq = data.test.tensors[0][0]
    one = tmp_path / "one.csv"
    one.write_text("value,marker\n" + "".join(f"{v!r},{m!r}\n" for v, m in seq.tolist()))
    code, lines, err = _predict(capsys, tmp_path / "model", one)
    assert code == 0, err
    with torch.no_grad():
        expected = float(model.eval()(seq[None]))
    assert len(lines) == 1 and lines[0].startswith(f"{one}: ")
    assert float(lines[0].split(": ")[1]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    seven = tmp_path / "seven.csv"
    seven.write_text("value,marker\n" + "0.5,0\n" * 7)
    code, _, err = _predict(capsys, tmp_path / "model", seven)
    assert code == 1 and "a series of 7 steps (columns value, marker) leaves 1 step(s) over; give 6 + k × 6 steps" in err


def test_sequence_classification_reads_one_sequence_per_line_and_warns_about_unknown_symbols(tmp_path, capsys):
    data = an2dl.get_dataset("temporal-order", n_train=8, n_val=2, n_test=4)
    model = an2dl.get_model("recurrent_classifier", num_classes=4, vocab_size=10, hidden_size=4)
    export(model, tmp_path / "model", **SequenceClassificationTask.export_metadata(
        class_names=list(data.info.class_names), preprocessing=dict(data.info.preprocess)))
    text = tmp_path / "seqs.txt"
    text.write_text("abXcdY\n\nbbYaZc\n")
    code, lines, err = _predict(capsys, tmp_path / "model", text)
    assert code == 0, err
    assert [line.split(": ")[0] for line in lines] == [f"{text}:1", f"{text}:3"]  # blank lines are skipped
    assert err.strip() == (f"an2dl: warning: {text}: characters 'Z' are not in the model's vocabulary (10 tokens); "
                           "the model reads them as <unk>")
    ids = torch.tensor([[2, 4, 5, 8, 6, 7, 9, 3]])  # <sos> a b X c d Y <eos>
    with torch.no_grad():
        p = model.eval()(ids).softmax(-1)[0]
    best = int(p.argmax())
    assert lines[0] == f"{text}:1: {data.info.class_names[best]} ({float(p[best]):.4f})"
