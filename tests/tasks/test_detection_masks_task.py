"""DetectionTask with instance masks (Mask R-CNN, notes §3.5.5.1): mask AP logged next to box AP, the targets'
masks checked, predict overlays coloured masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import an2dl
from an2dl.data import BatchError
from an2dl.data.datasets.detection_files import DetectionDataset
from an2dl.engine.detection_metrics import MeanAveragePrecision
from an2dl.engine.prediction import PredictOptions
from an2dl.tasks import DetectionTask
from an2dl.tasks.detection import draw_detections


def _mask(box, size=32):
    m = torch.zeros(size, size, dtype=torch.uint8)
    x1, y1, x2, y2 = box
    m[y1:y2, x1:x2] = 1
    return m


class FixedMasks(nn.Module):
    """Given detections (with masks) in evaluation mode, in call order."""

    needs_masks = True

    def __init__(self, detections, num_classes=3):
        super().__init__()
        self.detections, self.num_classes, self.next = detections, num_classes, 0
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, images, targets=None):
        if self.training:
            return {"loss_mask": self.w ** 2}
        out = [dict(d) for d in self.detections[self.next:self.next + len(images)]]
        self.next = (self.next + len(images)) % len(self.detections)
        return out


def _case():
    gt_boxes = [[[2, 2, 12, 12], [16, 16, 30, 28]], [[4, 4, 14, 16]]]
    truth = [{"boxes": torch.tensor(b, dtype=torch.float32), "labels": torch.tensor([1, 2][:len(b)]),
              "masks": torch.stack([_mask(x) for x in b])} for b in gt_boxes]
    # image 0: right boxes, the second mask only the left half of its object (mask IoU 0.5); image 1: exact
    det_masks = [torch.stack([_mask([2, 2, 12, 12]), _mask([16, 16, 23, 28])]), _mask([4, 4, 14, 16])[None]]
    dets = [{"boxes": truth[i]["boxes"], "labels": truth[i]["labels"], "scores": torch.tensor([0.9, 0.8][:len(m)]),
             "masks": m[:, None].float()} for i, m in enumerate(det_masks)]
    return truth, dets


def test_validation_logs_box_ap_and_mask_ap_equal_to_the_metric():
    truth, dets = _case()
    data = DetectionDataset(torch.rand(2, 3, 32, 32), truth, class_names=["background", "a", "b"])
    task = DetectionTask(FixedMasks(dets))
    assert task.masks
    metrics = an2dl.Trainer(max_epochs=1, batch_size=2, progress=False).evaluate(task, data, split="test")
    assert metrics["test/map"] == pytest.approx(1.0)  # the boxes are exact
    ref = MeanAveragePrecision(iou_type="segm")
    ref.update([dict(d) for d in dets], [dict(t) for t in truth])
    want = ref.compute()
    for key in ("map", "map_50", "map_75", "mar_100"):
        assert metrics[f"test/segm_{key}"] == pytest.approx(float(want[key]), abs=1e-6), key
    # class 2's mask has IoU 0.5: a hit at 0.50 only; class 1 exact -> mask mAP@0.5 = 1, @0.75 = 0.5
    assert metrics["test/segm_map_50"] == pytest.approx(1.0) and metrics["test/segm_map_75"] == pytest.approx(0.5)


def test_targets_without_masks_are_refused_and_masks_can_be_switched_off():
    truth, dets = _case()
    plain = [{k: v for k, v in t.items() if k != "masks"} for t in truth]
    data = DetectionDataset(torch.rand(2, 3, 32, 32), plain, class_names=["background", "a", "b"])
    with pytest.raises(BatchError, match=r"needs 'masks' \[N, H, W\] \(instance segmentation\)"):
        an2dl.Trainer(max_epochs=1, batch_size=2, progress=False).evaluate(DetectionTask(FixedMasks(dets)), data,
                                                                           split="test")
    task = DetectionTask(FixedMasks(dets), masks=False)
    metrics = an2dl.Trainer(max_epochs=1, batch_size=2, progress=False).evaluate(task, data, split="test")
    assert "test/segm_map" not in metrics and metrics["test/map"] == pytest.approx(1.0)


def test_predict_and_draw_overlay_the_masks_in_the_class_colour(tmp_path):
    from an2dl.data.images import read_image, save_image

    image = torch.zeros(3, 300, 300)
    mask = torch.zeros(1, 300, 300)
    mask[0, 50:150, 50:150] = 0.9
    out = draw_detections(image, torch.tensor([[40.0, 40.0, 160.0, 160.0]]), torch.tensor([1]), masks=mask, width=2)
    assert out[0, 100, 100] == pytest.approx(0.475, abs=0.01) and out[1, 100, 100] < 0.2  # class 1 (0.95, 0.25, 0.2), half
    assert float(out[:, 200, 200].sum()) == 0.0
    _, dets = _case()
    big = [{"boxes": torch.tensor([[8.0, 8.0, 24.0, 24.0]]), "labels": torch.tensor([2]), "scores": torch.tensor([0.9]),
            "masks": _mask([8, 8, 24, 24])[None, None].float()}]
    pre = {"input_shape": [3, 32, 32], "value_range": [0.0, 1.0],
           "pipeline": [{"op": "to_channels", "channels": 3}, {"op": "resize", "size": [32, 32], "mode": "bilinear"}],
           "raw_input": {"channels": 3, "size": [32, 32]}}
    meta = DetectionTask.export_metadata(class_names=["a", "b"], preprocessing=pre)
    save_image(tmp_path / "scene.png", torch.zeros(3, 64, 64))
    res = DetectionTask.predict_inputs(FixedMasks(big).eval(), meta, [str(tmp_path / "scene.png")],
                                       options=PredictOptions(run_dir=tmp_path))
    overlay = read_image(res.files[0])  # 64 px file enlarged 4x: the mask covers 16..48 of the file
    assert overlay[1, 128, 128] > 0.35 and overlay[0, 128, 128] < 0.15  # class 2: green tint inside the mask
