"""Detection: inference images/s of every detector of chapter 3.5.4 on the same images, one thread (ratios)."""

from __future__ import annotations

import os

import torch

from . import register_benchmark

__all__ = ["detection"]

#: the detectors timed, in the notes' order (§3.5.4.1 sliding window … §3.5.4.5 YOLO)
DETECTORS = ("sliding_window", "rcnn", "fast_rcnn_selective_search", "faster_rcnn", "yolo")
#: detectors that keep the selective-search proposals of the images they have seen
_PROPOSAL_CACHES = ("rcnn", "fast_rcnn_selective_search")


@register_benchmark("detection")
def detection(quick: bool = False) -> dict:
    """Images per second of each detector at inference on the same 64×64 ``shapes-detection`` images.

    Every detector has its default settings and is first trained briefly (``steps`` Adam steps of 8 images,
    learning rate 10⁻³, the same images for all) so that its scores, and with them the number of boxes its NMS
    sorts, are those of a working detector — an untrained two-stage detector passes thousands of near-tied
    boxes to NMS and times nothing useful.  The time is the forward pass and the decoding (proposals, RoI
    pooling, NMS; R-CNN's and Fast R-CNN's selective search too, their proposal caches off) on one thread, best of three passes
    over the images in batches of 32.  ``ratio_<name>`` is the detector's images/s over Faster R-CNN's: the
    single-shot YOLO against the two-stage detector, the trade-off of the notes.  The box operations
    themselves are measured by ``an2dl bench ops`` (NMS of 10⁴ boxes, RoIAlign of 10³ RoIs).  ``quick``
    times 8 images of untrained detectors (a check of the mechanics).
    """
    from ..data import get_dataset
    from ..data.batch import collate_images
    from ..models import MODELS, get_model
    from ..recipes.detection.sliding_window import images_per_second

    n, steps = (8, 0) if quick else (128, 150)
    data = get_dataset("shapes-detection", n_train=8 if quick else 512, n_val=1, n_test=n, seed=0)
    images = torch.stack([data.test[i][0] for i in range(n)])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{n} images of 64x64, one thread, batches of 32, after {steps} training steps; "
          f"load average (1 min) at start: {load:.2f}")
    results: dict = {}
    threads = torch.get_num_threads()
    for name in DETECTORS:
        if name not in MODELS:
            continue
        torch.manual_seed(0)
        # R-CNN and Fast R-CNN keep the proposals of images they have seen; the timed passes repeat the images,
        # so without this the selective search of the held-out images would be timed once and then read from
        # the cache
        model = get_model(name, num_classes=4, **({"cache_size": 0} if name in _PROPOSAL_CACHES else {}))
        params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        torch.set_num_threads(1)
        try:
            for step in range(steps):
                batch = collate_images([data.train[(step * 8 + i) % len(data.train)] for i in range(8)])
                loss = sum(model(batch.inputs, batch.targets).values())
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
        ips = images_per_second(model, images, batch_size=8 if quick else 32, repeats=1 if quick else 3)
        results[name] = {"images_per_s": ips, "parameters": params}
        print(f"{name:>15}: {ips:8.1f} images/s   ({params:,} parameters)")
    base = results["faster_rcnn"]["images_per_s"]
    for name, r in list(results.items()):
        results[f"ratio_{name}"] = r["images_per_s"] / base
    print("images/s over Faster R-CNN's: " + ", ".join(f"{k[6:]} {v:.2f}" for k, v in results.items()
                                                      if k.startswith("ratio_")))
    results["ratio"] = results["ratio_yolo"]
    results["load_average"] = load
    return results
