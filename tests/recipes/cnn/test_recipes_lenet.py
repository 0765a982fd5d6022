"""LeNet-5 recipes reach their published accuracy on real data."""

from __future__ import annotations

import json

import pytest

import an2dl

pytestmark = pytest.mark.slow


def test_lenet5_digits_default_recipe_reaches_97_5_percent(tmp_path):
    """§3.4.2: LeNet-5 on the digits resized to 32x32, 60 epochs (seeds 0/1/2: 0.983, 0.992, 0.989)."""
    result = an2dl.run("lenet5-digits", runs_root=tmp_path, progress=False)
    assert result.metrics["test/accuracy"] >= 0.975
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["metrics"]["test/accuracy"] == result.metrics["test/accuracy"] and saved["epochs"] == 60


@pytest.mark.data
def test_lenet5_mnist_reaches_the_papers_accuracy(tmp_path, mnist_dir):
    # LeCun et al. (1998) report 0.95 % test error for LeNet-5 (without distortions)
    result = an2dl.run("lenet5-mnist", [f"data.root={mnist_dir}", "checkpoint.every_n_epochs=null"],
                       runs_root=tmp_path, progress=False)
    assert result.metrics["test/accuracy"] >= 0.990
