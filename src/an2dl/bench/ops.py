"""Box operations: vectorised IoU, NMS and RoIAlign against per-box Python loops, same inputs, same results."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import torch

from . import register_benchmark

__all__ = ["ops"]


# ---------------------------------------------------------------------------------------------
# the baselines: what one writes without vectorising, one Python iteration per box (or per sample)


def _loop_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU row by row: one Python iteration per box of ``boxes1``, vectorised over ``boxes2``."""
    out = boxes1.new_empty(boxes1.shape[0], boxes2.shape[0])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    for i in range(boxes1.shape[0]):
        x1, y1, x2, y2 = boxes1[i]
        w = (torch.minimum(x2, boxes2[:, 2]) - torch.maximum(x1, boxes2[:, 0])).clamp(min=0)
        h = (torch.minimum(y2, boxes2[:, 3]) - torch.maximum(y1, boxes2[:, 1])).clamp(min=0)
        inter = w * h
        out[i] = inter / ((x2 - x1) * (y2 - y1) + area2 - inter)
    return out


def _loop_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """The textbook greedy loop: take the best remaining box, drop those overlapping it, repeat."""
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iou = _loop_iou(boxes[i][None], boxes[rest])[0]
        order = rest[~(iou > iou_threshold)]
    return torch.stack(keep) if keep else order


def _bilinear(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Bilinear value ``[C]`` of ``fmap [C, H, W]`` at ``(y, x)`` with RoIAlign's border rules."""
    height, width = fmap.shape[-2:]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return fmap.new_zeros(fmap.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * fmap[:, y0, x0]
        + (1 - ly) * lx * fmap[:, y0, x1]
        + ly * (1 - lx) * fmap[:, y1, x0]
        + ly * lx * fmap[:, y1, x1]
    )


def _loop_roi_align(
    x: torch.Tensor, rois: torch.Tensor, size: int, scale: float, sampling_ratio: int, aligned: bool
) -> torch.Tensor:
    """RoIAlign written as loops over RoIs, bins and sample points (vectorised over channels only)."""
    out = x.new_zeros(rois.shape[0], x.shape[1], size, size)
    offset = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy = x1 * scale - offset, y1 * scale - offset
        rw, rh = x2 * scale - offset - sx, y2 * scale - offset - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / size, rh / size
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / size)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / size)
        fmap = x[int(b)]
        for ph in range(size):
            for pw in range(size):
                acc = x.new_zeros(x.shape[1])
                for iy in range(gh):
                    yy = sy + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        acc = acc + _bilinear(fmap, yy, sx + pw * bw + (ix + 0.5) * bw / gw)
                out[k, :, ph, pw] = acc / max(gh * gw, 1)
    return out


# ---------------------------------------------------------------------------------------------


def _random_boxes(n: int, generator: torch.Generator, size: float = 1000.0) -> torch.Tensor:
    """``n`` boxes with centres uniform in a ``size²`` image and sides in [10, 100) pixels."""
    centre = torch.rand(n, 2, generator=generator) * size
    half = (torch.rand(n, 2, generator=generator) * 90 + 10) / 2
    return torch.cat((centre - half, centre + half), dim=1)


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


@register_benchmark("ops")
def ops(quick: bool = False) -> dict:
    """Box IoU, NMS and RoIAlign: an2dl's vectorised ops against per-box Python loops (ratio = loop / ours).

    IoU of ``N`` boxes against themselves (baseline: one Python iteration per
    row), NMS at IoU 0.5 (baseline: the textbook greedy loop, one iteration
    per kept box) for ``N`` = 1,000 and 10,000 random boxes (sides 10–100 px
    in a 1000×1000 image), and RoIAlign (7×7, sampling ratio 2, aligned) of
    1,000 RoIs on a 2×256×50×50 map at stride 16 (baseline: loops over RoIs,
    bins and sample points, vectorised over channels; 10,000 RoIs would keep
    the loop busy for about a minute).  Each pair is checked to give the same
    result.  Best of several repeats (one for the slow RoIAlign loop).
    """
    from ..ops import box_iou, nms, roi_align

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) at start: {load:.2f} on {os.cpu_count()} cpus "
          "(other processes competing for the cores slow the multi-threaded vectorised ops most)")
    g = torch.Generator().manual_seed(0)
    sizes = (300,) if quick else (1000, 10000)
    results: dict = {}
    for n in sizes:
        boxes = _random_boxes(n, g)
        scores = torch.rand(n, generator=g)
        repeats = 2 if quick or n > 1000 else 5
        t_loop, ref = _best(lambda b=boxes: _loop_iou(b, b), 1 if n > 1000 else repeats)
        t_ours, got = _best(lambda b=boxes: box_iou(b, b), repeats)
        same = bool(torch.allclose(got, ref, atol=1e-6))
        print(f"box_iou  N={n:>6}: loop {t_loop * 1e3:9.1f} ms   ours {t_ours * 1e3:8.1f} ms   "
              f"ratio loop / ours = {t_loop / t_ours:6.1f}   same result: {same}")
        results[f"iou_{n}"] = {"loop_s": t_loop, "ours_s": t_ours, "ratio": t_loop / t_ours, "same": same}
        t_loop, ref = _best(lambda b=boxes, s=scores: _loop_nms(b, s, 0.5), repeats)
        t_ours, got = _best(lambda b=boxes, s=scores: nms(b, s, 0.5), repeats)
        same = bool(torch.equal(got, ref))
        print(f"nms      N={n:>6}: loop {t_loop * 1e3:9.1f} ms   ours {t_ours * 1e3:8.1f} ms   "
              f"ratio loop / ours = {t_loop / t_ours:6.1f}   same result: {same}   (kept {got.numel()})")
        results[f"nms_{n}"] = {"loop_s": t_loop, "ours_s": t_ours, "ratio": t_loop / t_ours, "same": same, "kept": got.numel()}

    k = 50 if quick else 1000
    c = 16 if quick else 256
    fmap = torch.randn(2, c, 50, 50, generator=g)
    boxes = _random_boxes(k, g, size=800.0).clamp(0, 800)
    rois = torch.cat((torch.randint(0, 2, (k, 1), generator=g).float(), boxes), dim=1)
    args = (7, 1 / 16, 2, True)
    t_loop, ref = _best(lambda: _loop_roi_align(fmap, rois, *args), 1)
    t_ours, got = _best(lambda: roi_align(fmap, rois, *args), 2 if quick else 5)
    same = bool(torch.allclose(got, ref, atol=1e-4, rtol=1e-4))  # float32 positions vs float64 ones
    print(f"roi_align K={k:>5}: loop {t_loop * 1e3:9.1f} ms   ours {t_ours * 1e3:8.1f} ms   "
          f"ratio loop / ours = {t_loop / t_ours:6.1f}   same result: {same}   (C={c}, 50x50 map, 7x7, sr 2)")
    results[f"roi_align_{k}"] = {"loop_s": t_loop, "ours_s": t_ours, "ratio": t_loop / t_ours, "same": same}
    results["ratio"] = min(v["ratio"] for v in results.values() if isinstance(v, dict))
    results["load_average"] = load
    return results
