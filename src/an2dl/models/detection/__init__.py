"""Chapter 3.5.4 of the notes, object detection: two-stage detectors (region proposals, RoI pooling, the Region
Proposal Network of Faster R-CNN) and the single-shot YOLO.

Every detector here keeps torchvision's contract: ``model(images, targets)`` in training mode returns a dict of
named loss terms, ``model(images)`` in evaluation mode a list of per-image dicts with ``boxes`` (x1, y1, x2, y2 in
pixels), ``labels`` (1..C, 0 being the background) and ``scores``.
"""
