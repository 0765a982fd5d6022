"""Detection report figures: precision-recall curves per class and held-out images with boxes (notes §3.5.4)."""

from __future__ import annotations

import json

import pytest
import torch

from an2dl.report.detection import RECALL_LEVELS, plot_detection_examples, plot_pr_curves


def test_pr_curves_one_panel_per_class_and_one_line_per_detector(tmp_path):
    fast = torch.stack([torch.linspace(1.0, 0.5, 101), torch.full((101,), -1.0)])  # class 2 has no ground truth
    slow = torch.stack([torch.ones(101), torch.full((101,), -1.0)])
    path = plot_pr_curves({"yolo": fast, "faster-rcnn": slow}, ["background", "circle", "square"], tmp_path)
    assert path == tmp_path / "plots" / "pr_curves_test.png" and path.stat().st_size > 0
    index = json.loads((tmp_path / "plots" / "index.json").read_text())
    assert "IoU 0.5" in index[-1]["caption"] and len(RECALL_LEVELS) == 101
    plot_pr_curves(fast, ["circle", "square"], tmp_path, name="one")
    with pytest.raises(ValueError, match=r"must be \[C, 101\]; got \[2, 100\]"):
        plot_pr_curves(fast[:, :100], ["circle", "square"], tmp_path)
    with pytest.raises(ValueError, match="needs the names of the 2 object classes"):
        plot_pr_curves(fast, ["circle"], tmp_path)


def test_detection_examples_draw_true_and_found_boxes(tmp_path):
    images = [torch.zeros(3, 32, 32), torch.zeros(1, 32, 32)]
    truth = [{"boxes": torch.tensor([[2.0, 2.0, 12.0, 12.0]]), "labels": torch.tensor([1])},
             {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    found = [{"boxes": torch.tensor([[3.0, 2.0, 12.0, 12.0], [20.0, 20.0, 30.0, 30.0]]),
              "labels": torch.tensor([1, 2]), "scores": torch.tensor([0.9, 0.1])},
             {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0)}]
    path = plot_detection_examples(images, found, truth, ["background", "a", "b"], tmp_path)
    assert path.name == "detections_test.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="one detection and one target dict per image; got 2 images, 1 detections"):
        plot_detection_examples(images, found[:1], truth, ["background", "a", "b"], tmp_path)
