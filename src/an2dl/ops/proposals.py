"""Classical region proposals: graph-based segmentation, then selective search's hierarchical grouping (notes §3.5.4.2).

R-CNN (notes §3.5.4.2) starts from "region proposals": "an algorithm (not a
learned one) … identifies image regions likely to contain objects", about two
thousand per image, each then warped and classified.  The algorithm of the
R-CNN paper is *selective search* (Uijlings et al., 2013), which groups the
regions of an over-segmentation bottom-up; every region met on the way is a
proposal.  Both steps are written out here with numpy and ``scipy.ndimage``.

**1. Graph-based segmentation** (Felzenszwalb & Huttenlocher, 2004,
:func:`felzenszwalb_segmentation`).  The image, smoothed by a Gaussian of
standard deviation ``sigma``, is a graph: one vertex per pixel, an edge to
each of the 8 neighbours weighted by the Euclidean colour distance
``w(p, q) = ‖I(p) − I(q)‖₂`` (values in [0, 1]).  Each component ``C``
carries its *internal difference* ``Int(C)``, the largest edge weight of its
minimum spanning tree.  The edges are visited by increasing weight; an edge
joining components ``A ≠ B`` merges them when::

    w ≤ MInt(A, B) = min(Int(A) + k / |A|,  Int(B) + k / |B|)

(Kruskal's algorithm with a stopping rule: two regions stay apart when the
edge between them is heavier than the variation inside either; ``k / |C|``
lets small components merge easily, so a larger ``k`` gives larger regions).
Because edges come in increasing order, after a merge ``Int = w``.  A last
pass over the same edges merges every component smaller than ``min_size``
pixels into its neighbour.

**2. Hierarchical grouping** (Uijlings et al., 2013, §3.1–3.2,
:func:`hierarchical_grouping`).  Starting from the segments, the two
*adjacent* regions ``r_i, r_j`` of highest similarity are merged, the
similarities of the new region with its neighbours are computed, and so on
until one region covers the image.  The similarity is the sum of::

    s_colour(i, j) = Σ_k min(c_i^k, c_j^k)               colour histograms (25 bins per channel, L1-normalised)
    s_size(i, j)   = 1 − (|r_i| + |r_j|) / |im|            merge small regions first
    s_fill(i, j)   = 1 − (|BB_ij| − |r_i| − |r_j|) / |im|  merge regions that fill each other's gaps

(``BB_ij`` is the box around both; the merged histogram is the size-weighted
mean ``(|r_i| c_i + |r_j| c_j) / (|r_i| + |r_j|)``).  The paper's texture
similarity (SIFT-like gradient histograms) is left out: the flat-coloured
objects of our data sets are told apart by colour.  Every region — the
segments and each merge — gives a proposal, its tight box.

**3. Diversification and ranking** (§3.3–3.4, :func:`selective_search`).
Segmentations at several ``k`` each give a hierarchy (the paper also varies
the colour space and the similarity sets).  Within one hierarchy region ``i``
of ``n`` (numbered in creation order) has position ``n − i`` (the region
covering the image: 1) and the value ``position × U(0, 1)``; the proposals of
all hierarchies are sorted by that value (smaller first: large regions
early, with a random mix), duplicate boxes keep their best value, and the
first ``max_proposals`` are returned.  The random draw is seeded, so the
proposals are a fixed function of the image.

:func:`proposal_recall` measures them as the R-CNN and selective-search
papers do: the fraction of the ground-truth boxes that some proposal
overlaps with IoU ≥ 0.5.

Papers: P. F. Felzenszwalb, D. P. Huttenlocher (2004), "Efficient Graph-Based
Image Segmentation", IJCV 59(2); J. R. R. Uijlings, K. E. A. van de Sande,
T. Gevers, A. W. M. Smeulders (2013), "Selective Search for Object
Recognition", IJCV 104(2); R. Girshick, J. Donahue, T. Darrell, J. Malik
(2014), "Rich feature hierarchies for accurate object detection and semantic
segmentation" (R-CNN).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..errors import ConfigError
from .boxes import box_iou

__all__ = ["felzenszwalb_segmentation", "hierarchical_grouping", "GroupingResult", "selective_search",
           "proposal_recall", "SIMILARITIES"]

#: the similarity terms :func:`hierarchical_grouping` can sum
SIMILARITIES = ("colour", "size", "fill")
_BINS = 25  # histogram bins per colour channel (the paper's 25)


def _image_array(image: torch.Tensor | np.ndarray, name: str = "image") -> np.ndarray:
    """A float64 ``[C, H, W]`` array of ``image`` (a tensor or array ``[C, H, W]`` or ``[H, W]``)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().double().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a tensor or array [C, H, W] (or [H, W]) in [0, 1]; got {type(image).__name__}")
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3 or min(image.shape) < 1:
        raise ValueError(f"{name} must be [C, H, W] (or [H, W]) with C, H, W >= 1; got shape {list(image.shape)}")
    return image.astype(np.float64, copy=False)


def _check_number(owner: str, name: str, value: object, *, low: float, strict: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value) and \
        (value > low if strict else value >= low)
    if not ok:
        raise ConfigError(f"{owner} {name} must be a number {'>' if strict else '>='} {low:g}; got {value!r}")
    return float(value)


def _check_int(owner: str, name: str, value: object, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{owner} {name} must be an integer >= {low}; got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------ 1. graph segmentation
def _pixel_edges(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-neighbourhood edges ``(u, v, weight)`` of a ``[C, H, W]`` image, pixels numbered row by row."""
    _, h, w = image.shape
    index = np.arange(h * w).reshape(h, w)
    us, vs, ws = [], [], []
    # right, down, down-right, down-left: every neighbouring pair once
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        a = image[:, ys:ye, xs:xe]
        b = image[:, ys + dy : ye + dy, xs + dx : xe + dx]
        us.append(index[ys:ye, xs:xe].ravel())
        vs.append(index[ys + dy : ye + dy, xs + dx : xe + dx].ravel())
        ws.append(np.sqrt(((a - b) ** 2).sum(axis=0)).ravel())
    return np.concatenate(us), np.concatenate(vs), np.concatenate(ws)


def felzenszwalb_segmentation(image: torch.Tensor | np.ndarray, *, k: float = 1.0, sigma: float = 0.8,
                              min_size: int = 20) -> np.ndarray:
    """Felzenszwalb–Huttenlocher graph-based segmentation (module docstring, step 1).

    Args:
        image: ``[C, H, W]`` (or ``[H, W]``), values in [0, 1].
        k: the scale of the merge criterion ``Int(C) + k / |C|`` in colour-distance units of [0, 1]
            images (the paper's ``k = 300`` on 0–255 values is about ``1.2``); larger: larger regions.
        sigma: standard deviation in pixels of the Gaussian smoothing before the graph is built (0: none).
        min_size: components smaller than this many pixels are merged into a neighbour at the end.

    Returns:
        int64 ``[H, W]``: each pixel's region, numbered ``0 .. R − 1`` in raster order of first appearance.

    Raises:
        ConfigError: ``k`` or ``sigma`` negative, ``min_size`` not a positive integer.
    """
    img = _image_array(image)
    k = _check_number("felzenszwalb_segmentation", "k", k, low=0.0)
    sigma = _check_number("felzenszwalb_segmentation", "sigma", sigma, low=0.0)
    min_size = _check_int("felzenszwalb_segmentation", "min_size", min_size, low=1)
    _, h, w = img.shape
    if sigma > 0:
        img = np.stack([ndimage.gaussian_filter(c, sigma, mode="nearest", truncate=4.0) for c in img])
    u, v, weight = _pixel_edges(img)
    order = np.argsort(weight, kind="stable")
    u_l, v_l, w_l = u[order].tolist(), v[order].tolist(), weight[order].tolist()
    n = h * w
    parent = list(range(n))
    size = [1] * n
    threshold = [k] * n  # Int(C) + k / |C|, with Int = 0 for a single pixel

    def find(p: int) -> int:
        root = p
        while parent[root] != root:
            root = parent[root]
        while parent[p] != root:  # path compression
            parent[p], p = root, parent[p]
        return root

    for a, b, wt in zip(u_l, v_l, w_l):
        ra, rb = find(a), find(b)
        if ra != rb and wt <= threshold[ra] and wt <= threshold[rb]:
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            threshold[ra] = wt + k / size[ra]  # edges arrive in increasing order: Int(A ∪ B) = w
    for a, b in zip(u_l, v_l):
        ra, rb = find(a), find(b)
        if ra != rb and (size[ra] < min_size or size[rb] < min_size):
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
    roots = np.fromiter((find(p) for p in range(n)), dtype=np.int64, count=n)
    _, first, labels = np.unique(roots, return_index=True, return_inverse=True)
    # renumber in raster order of each region's first pixel
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[labels].reshape(h, w)


# ---------------------------------------------------------------------------------- 2. hierarchical grouping
@dataclass(frozen=True)
class GroupingResult:
    """The regions of one hierarchy (:func:`hierarchical_grouping`).

    Attributes:
        boxes: float32 ``[R + M, 4]`` ``(x1, y1, x2, y2)`` pixels of every region in creation order: the
            ``R`` segments, then the ``M`` merged regions (``M = R − (number of connected groups)``).
        merges: ``[(i, j), ...]``: merge ``m`` joined regions ``i`` and ``j`` into region ``R + m``.
        sizes: int64 ``[R + M]`` pixels of each region.
    """

    boxes: torch.Tensor
    merges: list[tuple[int, int]]
    sizes: np.ndarray


def _adjacent_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """The pairs ``(i, j)``, ``i < j``, of regions that touch (8-neighbourhood, as the segmentation's graph)."""
    pairs = []
    h, w = labels.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        xs, xe = max(0, -dx), w - max(0, dx)
        a = labels[0 : h - dy, xs:xe].ravel()
        b = labels[dy:h, xs + dx : xe + dx].ravel()
        diff = a != b
        pairs.append(np.stack([np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])], axis=1))
    both = np.unique(np.concatenate(pairs), axis=0)
    return {(int(i), int(j)) for i, j in both}


def hierarchical_grouping(image: torch.Tensor | np.ndarray, labels: np.ndarray, *,
                          similarities: Sequence[str] = SIMILARITIES) -> GroupingResult:
    """Selective search's greedy grouping of adjacent regions (module docstring, step 2).

    Args:
        image: ``[C, H, W]`` (or ``[H, W]``), values in [0, 1] (the colour histograms read it).
        labels: int ``[H, W]``, regions numbered ``0 .. R − 1`` (:func:`felzenszwalb_segmentation`).
        similarities: the terms summed, a non-empty subset of ``("colour", "size", "fill")``.

    Returns:
        :class:`GroupingResult`: every region's box, the merges in order, the sizes.

    Raises:
        ConfigError: unknown or no similarity terms.  ValueError: ``labels`` not ``[H, W]`` of the image's
        size, or not numbered ``0 .. R − 1``.
    """
    img = _image_array(image)
    terms = tuple(similarities)
    if not terms or any(t not in SIMILARITIES for t in terms) or len(set(terms)) != len(terms):
        raise ConfigError(f"hierarchical_grouping similarities must be distinct names among {SIMILARITIES}; got "
                          f"{list(similarities)!r}")
    labels = np.asarray(labels)
    if labels.shape != img.shape[1:] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer [H, W] = {list(img.shape[1:])} map of regions; got "
                         f"{labels.dtype} {list(labels.shape)}")
    num = int(labels.max()) + 1
    if labels.min() < 0 or np.unique(labels).size != num:
        raise ValueError(f"labels must number the regions 0 .. R - 1 without gaps; got values "
                         f"{np.unique(labels)[:10].tolist()}...")
    channels, h, w = img.shape
    area = float(h * w)
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=num).astype(np.int64)
    # colour histograms: 25 bins per channel, the C histograms of a region L1-normalised together
    bins = np.clip((img * _BINS).astype(np.int64), 0, _BINS - 1).reshape(channels, -1)
    codes = flat[None, :] * (channels * _BINS) + np.arange(channels)[:, None] * _BINS + bins
    hist = np.bincount(codes.ravel(), minlength=num * channels * _BINS).reshape(num, channels * _BINS).astype(float)
    hist /= hist.sum(axis=1, keepdims=True)
    boxes = np.zeros((num, 4))
    for i, sl in enumerate(ndimage.find_objects(labels + 1)):
        boxes[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    hists, box_list, size_list = list(hist), list(boxes), sizes.tolist()
    neighbours: dict[int, set[int]] = {i: set() for i in range(num)}
    for i, j in _adjacent_pairs(labels):
        neighbours[i].add(j)
        neighbours[j].add(i)

    def similarity(i: int, j: int) -> float:
        s = 0.0
        if "colour" in terms:
            s += float(np.minimum(hists[i], hists[j]).sum())
        if "size" in terms:
            s += 1.0 - (size_list[i] + size_list[j]) / area
        if "fill" in terms:
            bi, bj = box_list[i], box_list[j]
            bb = (max(bi[2], bj[2]) - min(bi[0], bj[0])) * (max(bi[3], bj[3]) - min(bi[1], bj[1]))
            s += 1.0 - (bb - size_list[i] - size_list[j]) / area
        return s

    sim = {(i, j): similarity(i, j) for i in neighbours for j in neighbours[i] if i < j}
    merges: list[tuple[int, int]] = []
    while sim:
        i, j = max(sim, key=lambda p: (sim[p], -p[0], -p[1]))  # ties: the lowest indices, for a fixed order
        t = len(size_list)
        total = size_list[i] + size_list[j]
        hists.append((size_list[i] * hists[i] + size_list[j] * hists[j]) / total)
        box_list.append(np.array([min(box_list[i][0], box_list[j][0]), min(box_list[i][1], box_list[j][1]),
                                  max(box_list[i][2], box_list[j][2]), max(box_list[i][3], box_list[j][3])]))
        size_list.append(total)
        merges.append((i, j))
        around = (neighbours.pop(i) | neighbours.pop(j)) - {i, j}
        sim = {p: s for p, s in sim.items() if i not in p and j not in p}
        neighbours[t] = around
        for n in around:
            neighbours[n] -= {i, j}
            neighbours[n].add(t)
            sim[(n, t)] = similarity(n, t)
    return GroupingResult(boxes=torch.tensor(np.array(box_list), dtype=torch.float32), merges=merges,
                          sizes=np.asarray(size_list, dtype=np.int64))


# ----------------------------------------------------------------------------------- 3. selective search
def selective_search(image: torch.Tensor | np.ndarray, *, ks: Sequence[float] = (0.5, 1.0, 2.0), sigma: float = 0.8,
                     min_size: int = 20, similarities: Sequence[str] = SIMILARITIES, max_proposals: int = 2000,
                     seed: int = 0) -> torch.Tensor:
    """Region proposals of one image: segment at each ``k``, group, rank, deduplicate (module docstring).

    Args:
        image: ``[C, H, W]`` (or ``[H, W]``), values in [0, 1].
        ks: the segmentation scales, one hierarchy each (the diversification).
        sigma, min_size: of :func:`felzenszwalb_segmentation`.
        similarities: the terms of :func:`hierarchical_grouping`.
        max_proposals: the most proposals returned (the best ranked).
        seed: seed of the ranking's random factors.

    Returns:
        float32 ``[N, 4]`` ``(x1, y1, x2, y2)`` pixels, distinct boxes, best ranked first, ``N <= max_proposals``.

    Raises:
        ConfigError: ``ks`` empty or with a negative value, ``max_proposals`` not positive, or a bad
        argument of the two steps.
    """
    img = _image_array(image)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) or not ks:
        raise ConfigError(f"selective_search ks must be a non-empty list of segmentation scales k >= 0; got {ks!r}")
    for value in ks:
        _check_number("selective_search", "ks", value, low=0.0)
    max_proposals = _check_int("selective_search", "max_proposals", max_proposals, low=1)
    rng = np.random.default_rng(_check_int("selective_search", "seed", seed, low=0))
    boxes, values = [], []
    for k in ks:
        labels = felzenszwalb_segmentation(img, k=k, sigma=sigma, min_size=min_size)
        regions = hierarchical_grouping(img, labels, similarities=similarities)
        n = regions.boxes.shape[0]
        position = n - np.arange(n)  # the last region (the whole image, or its largest group) is 1
        boxes.append(regions.boxes)
        values.append(position * rng.random(n))
    all_boxes = torch.cat(boxes)
    order = np.argsort(np.concatenate(values), kind="stable")
    ranked = all_boxes[torch.from_numpy(order)]
    # the first occurrence of each distinct box in ranked order keeps its rank
    _, inverse = torch.unique(ranked, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), ranked.shape[0], dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(ranked.shape[0]), reduce="amin")
    keep = first.sort().values[:max_proposals]
    return ranked[keep]


def proposal_recall(proposals: Sequence[torch.Tensor], gt_boxes: Sequence[torch.Tensor], *,
                    iou_threshold: float = 0.5, top: int | None = None) -> float:
    """Fraction of ground-truth boxes covered by a proposal with IoU ≥ ``iou_threshold`` (R-CNN's measure).

    Args:
        proposals: per image, ``[N_i, 4]`` boxes, best ranked first.
        gt_boxes: per image, ``[G_i, 4]`` ground-truth boxes.
        iou_threshold: the IoU a proposal needs to recall an object (0.5 in the papers).
        top: read only the first ``top`` proposals of each image (``None``: all).

    Returns:
        the recall in [0, 1] over all objects of all images (``nan`` when there is none).

    Shape:
        lists of ``[N_i, 4]`` and ``[G_i, 4]`` ``(x1, y1, x2, y2)``, one entry per image.
    """
    if len(proposals) != len(gt_boxes):
        raise ValueError(f"proposals and gt_boxes must have one entry per image; got {len(proposals)} and "
                         f"{len(gt_boxes)}")
    if not 0.0 < _check_number("proposal_recall", "iou_threshold", iou_threshold, low=0.0, strict=True) <= 1.0:
        raise ConfigError(f"proposal_recall iou_threshold must be in (0, 1]; got {iou_threshold!r}")
    if top is not None:
        _check_int("proposal_recall", "top", top, low=1)
    found = total = 0
    for props, gt in zip(proposals, gt_boxes):
        total += gt.shape[0]
        props = props[:top] if top is not None else props
        if gt.shape[0] and props.shape[0]:
            found += int((box_iou(gt.float(), props.float()).amax(dim=1) >= iou_threshold).sum())
    return found / total if total else float("nan")
