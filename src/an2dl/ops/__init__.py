"""Parameter-free functions: correlation, boxes, IoU, NMS, RoI pooling, anchors, ..."""
