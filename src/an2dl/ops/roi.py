"""Region-of-interest pooling: Fast R-CNN RoI max pooling and Mask R-CNN RoIAlign (notes §3.5.4–3.5.5).

Fast R-CNN (notes §3.5.4.3; Girshick, 2015, "Fast R-CNN") computes the
feature map once and crops every proposal from it: "each Region of Interest
is divided into smaller grid, and region of interest pooling applies
max-pooling over the grid to produce a fixed-size activation".
:func:`roi_pool` is that layer; it snaps the box and the bin edges to the
feature grid (``round``, ``floor``, ``ceil``).  Mask R-CNN (notes §3.5.5.1;
He et al., 2017, "Mask R-CNN") replaces the snapping by bilinear sampling,
:func:`roi_align`, because the quantisation misaligns pixel-accurate masks.
Over a feature pyramid each RoI is read from the level that suits its size:
:mod:`an2dl.ops.multiscale_roi`.

RoIs are ``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` in image
coordinates, or a list with one ``[N_i, 4]`` box tensor per image;
``spatial_scale`` (``1 / stride``) maps them onto the feature map.

Both poolings are computed for many RoIs, bins and samples at once: the
positions are tensors ``[K, bins, samples]`` per axis, the feature values are
read with one gather from the map laid out as rows ``[N·H·W, C]``, and the
weighted sums (RoIAlign) or maxima (RoI pooling) are batched tensor ops.  The
gathered block holds ``K · bins · samples · C`` numbers, so RoIs are processed
in chunks of about :data:`_CHUNK_ELEMENTS` numbers (a memory bound, not a loop
over boxes); where the sample grid or bin size varies per RoI (adaptive
sampling, RoI pooling), RoIs whose sizes agree within a factor 2 are chunked
together, so that one large RoI does not pad the work of all the small ones.
:func:`roi_align` is built from differentiable tensor ops (gather, products,
sums): gradients reach the feature map through autograd.

Semantics are torchvision's, bit for bit where the arithmetic allows (see
:func:`roi_align` and :func:`roi_pool` for the boundary rules).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

__all__ = ["roi_pool", "roi_align"]

#: target size (elements) of one gathered block; RoIs are chunked to stay near it
_CHUNK_ELEMENTS = 1 << 23


# ---------------------------------------------------------------------------------------------
# argument handling


def _check_input(input: torch.Tensor) -> torch.Tensor:
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        raise TypeError(
            f"input must be a floating-point feature map [N, C, H, W]; got {getattr(input, 'dtype', type(input).__name__)}"
        )
    if input.dim() != 4:
        raise ValueError(f"input must be a feature map of shape [N, C, H, W]; got shape {list(input.shape)}")
    return input


def _output_size(output_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(output_size, numbers.Integral) and not isinstance(output_size, bool):
        size = (int(output_size), int(output_size))
    elif isinstance(output_size, Sequence) and len(output_size) == 2 and all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in output_size
    ):
        size = (int(output_size[0]), int(output_size[1]))
    else:
        raise ValueError(f"output_size must be a positive int or (height, width); got {output_size!r}")
    if min(size) < 1:
        raise ValueError(f"output_size must be a positive int or (height, width); got {output_size!r}")
    return size


def _check_scale(spatial_scale: float) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, numbers.Real) or not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be a positive number (1 / stride of the map); got {spatial_scale!r}")
    return float(spatial_scale)


def _boxes_to_rois(boxes: Sequence[torch.Tensor], name: str) -> torch.Tensor:
    """List of ``[N_i, 4]`` boxes, one per image -> ``[ΣN_i, 5]`` rows ``(i, x1, y1, x2, y2)``."""
    parts = []
    for i, b in enumerate(boxes):
        if not isinstance(b, torch.Tensor) or b.dim() != 2 or b.shape[1] != 4:
            shape = list(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise ValueError(
                f"{name}[{i}] must be a tensor of shape [N, 4] in (x1, y1, x2, y2) (a list of boxes per image); got {shape}"
            )
        parts.append(torch.cat((torch.full_like(b[:, :1], i), b), dim=1))
    if not parts:
        raise ValueError(f"{name} must hold one [N, 4] box tensor per image; got an empty list")
    dtype = torch.promote_types(parts[0].dtype, torch.get_default_dtype()) if not parts[0].is_floating_point() else None
    return torch.cat([p if dtype is None else p.to(dtype) for p in parts], dim=0)


def _as_rois(rois: torch.Tensor | Sequence[torch.Tensor], input: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Validate ``rois`` ([K, 5] tensor or list of [N_i, 4]) against ``input``; return ``[K, 5]`` in ``dtype``."""
    if isinstance(rois, torch.Tensor):
        if rois.dim() != 2 or rois.shape[1] != 5:
            raise ValueError(
                "rois must be a tensor of shape [K, 5] with rows (batch_index, x1, y1, x2, y2), or a list of "
                f"[N_i, 4] box tensors, one per image; got a tensor of shape {list(rois.shape)}"
            )
        out = rois
    elif isinstance(rois, Sequence) and not isinstance(rois, (str, bytes)):
        out = _boxes_to_rois(rois, "rois")
    else:
        raise TypeError(f"rois must be a [K, 5] tensor or a list of [N_i, 4] tensors; got {type(rois).__name__}")
    out = out.to(device=input.device, dtype=dtype)
    if out.shape[0]:
        index = out[:, 0]
        bad = (index != index.floor()) | (index < 0) | (index >= input.shape[0])
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"rois[:, 0] must hold batch indices in 0..{input.shape[0] - 1} (input has {input.shape[0]} "
                f"images); row {i} is {out[i].tolist()}"
            )
    return out


def _work_dtype(input: torch.Tensor) -> torch.dtype:
    """Coordinates are computed in the map's dtype (as torchvision's kernels do), at least float32."""
    return input.dtype if input.dtype in (torch.float32, torch.float64) else torch.float32


def _prepare(input: torch.Tensor, rois: torch.Tensor | Sequence[torch.Tensor], output_size: int | Sequence[int],
             spatial_scale: float) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int], float, torch.dtype]:
    """The checked arguments shared by :func:`roi_align` and :func:`roi_pool`: input, ``[K, 5]`` rois, output size,
    scale and the dtype the positions are computed in."""
    x = _check_input(input)
    size = _output_size(output_size)
    scale = _check_scale(spatial_scale)
    dtype = _work_dtype(x)
    return x, _as_rois(rois, x, dtype), size, scale, dtype


def _chunk_bounds(k: int, per_roi: int) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of RoI chunks whose gathered block stays near :data:`_CHUNK_ELEMENTS`."""
    step = max(1, _CHUNK_ELEMENTS // max(per_roi, 1))
    return [(s, min(s + step, k)) for s in range(0, k, step)]


def _pooled_in_groups(
    pool, extent_h: torch.Tensor, extent_w: torch.Tensor, per_cell: int, uniform: bool
) -> torch.Tensor:
    """Run ``pool(indices, extent_h_max, extent_w_max) -> [k, ...]`` over all RoIs, in memory-bounded chunks.

    ``extent_h/w`` (``[K]`` int) is how many taps or cells a RoI reads per bin
    along each axis; a chunk is padded to its largest.  Unless ``uniform``,
    RoIs are first grouped by the octave (power of two) of both extents, so
    one large RoI does not inflate the work of all the small ones.  The
    results come back in the order of the RoIs.
    """
    k = extent_h.shape[0]
    if uniform:
        groups = [torch.arange(k, device=extent_h.device)]
    else:
        octave_h = torch.log2(extent_h.clamp(min=1).to(torch.float64)).floor().long()
        octave_w = torch.log2(extent_w.clamp(min=1).to(torch.float64)).floor().long()
        keys, order = torch.sort(octave_h * 64 + octave_w, stable=True)
        groups = list(order.split(torch.unique_consecutive(keys, return_counts=True)[1].tolist()))
    done, pieces = [], []
    for group in groups:
        eh, ew = max(int(extent_h[group].max()), 1), max(int(extent_w[group].max()), 1)
        for s, e in _chunk_bounds(group.shape[0], per_cell * eh * ew):
            done.append(group[s:e])
            pieces.append(pool(group[s:e], eh, ew))
    out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)
    return out if uniform else out[torch.argsort(torch.cat(done))]


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round()``: to nearest, halves away from zero (``torch.round`` rounds halves to even)."""
    trunc = torch.trunc(x)
    tie = (x - trunc).abs() == 0.5
    return torch.where(tie, trunc + torch.sign(x), torch.round(x))


# ---------------------------------------------------------------------------------------------
# RoIAlign


def _axis_samples(
    start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, bins: int, grid_max: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear taps along one axis for every RoI, bin and sample.

    Sample ``i`` of bin ``p`` sits at ``start + p·bin + (i + 0.5)·bin / grid``.
    Returns the two neighbouring indices and their weights, each
    ``[K, bins, grid_max, 2]``; samples beyond the RoI's own grid, and samples
    outside ``[-1, size]``, get weight 0.  Inside, a position is clamped to
    ``[0, size - 1]`` (torchvision's ``bilinear_interpolate``).
    """
    dtype = start.dtype
    p = torch.arange(bins, dtype=dtype, device=start.device)
    i = torch.arange(grid_max, dtype=dtype, device=start.device)
    g = grid.clamp(min=1).to(dtype)
    # same evaluation order as torchvision's kernel: (start + p·bin) + ((i + .5)·bin) / grid
    pos = (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]) + (
        (i[None, None, :] + 0.5) * bin_size[:, None, None]
    ) / g[:, None, None]  # (K, bins, G)
    zero = torch.zeros((), dtype=dtype, device=pos.device)
    last = torch.full((), size - 1, dtype=dtype, device=pos.device)
    used = i[None, None, :] < grid[:, None, None].to(dtype)
    inside = (pos >= -1.0) & (pos <= size) & used
    pos = torch.where(used, pos, zero).clamp(min=0)
    low = pos.floor()
    at_edge = low >= size - 1  # the last row/column: no right neighbour, the value is held constant
    low = torch.where(at_edge, last, low)
    high = torch.where(at_edge, last, low + 1)
    frac = torch.where(at_edge, zero, pos - low)
    w_low = torch.where(inside, 1.0 - frac, zero)
    w_high = torch.where(inside, frac, zero)
    index = torch.stack((low, high), dim=-1).long().clamp(0, size - 1)
    return index, torch.stack((w_low, w_high), dim=-1)


def roi_align(
    input: torch.Tensor,
    rois: torch.Tensor | Sequence[torch.Tensor],
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """RoIAlign: average of bilinear samples on a regular grid in every bin (Mask R-CNN).

    Notes §3.5.5.1 (Mask R-CNN crops each region of interest from the
    feature map); He et al. (2017).  For RoI ``(x1, y1, x2, y2)`` scaled by
    ``spatial_scale`` (minus ``0.5`` when ``aligned``, so that a pixel's
    value sits at its centre), the box is split into ``PH × PW`` bins and
    each bin averages ``gh × gw`` bilinearly interpolated samples at the
    centres of a regular sub-grid.  Boundary rules (torchvision's):

    * a sample with ``y < -1`` or ``y > H`` (or ``x < -1`` or ``x > W``)
      contributes 0; other samples are clamped into ``[0, H - 1] × [0, W - 1]``;
    * the average always divides by the full count ``gh · gw``;
    * ``aligned=False`` (the original Mask R-CNN code) forces the RoI to at
      least one feature cell per side; ``aligned=True`` does not;
    * ``sampling_ratio > 0`` fixes ``gh = gw = sampling_ratio``; ``<= 0``
      (usually ``-1``) is adaptive: ``gh = ceil(roi_h / PH)``,
      ``gw = ceil(roi_w / PW)`` per RoI.

    Differentiable with respect to ``input`` (autograd through a gather).

    Args:
        input: feature map.
        rois: ``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` or a list of
            ``[N_i, 4]`` boxes per image, in image coordinates.
        output_size: ``PH = PW`` (int) or ``(PH, PW)``.
        spatial_scale: factor from image to feature-map coordinates (``1 / stride``).
        sampling_ratio: samples per bin and axis; ``<= 0`` for adaptive.
        aligned: shift by half a cell (pixel-centre convention).

    Returns:
        the pooled features, in the dtype of ``input``.

    Shape:
        ``input``: ``[N, C, H, W]``; ``rois``: ``[K, 5]`` or list of ``[N_i, 4]``
        (``K = ΣN_i``); output ``[K, C, PH, PW]``.

    Raises:
        TypeError: non-float input; ValueError: wrong shapes, batch indices out
        of range, non-positive ``output_size``/``spatial_scale``.
    """
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
        raise ValueError(f"sampling_ratio must be an int (samples per bin and axis; <= 0 for adaptive); got {sampling_ratio!r}")
    x, r, (out_h, out_w), scale_value, dtype = _prepare(input, rois, output_size, spatial_scale)
    n, c, height, width = x.shape
    k = r.shape[0]
    if k == 0 or height == 0 or width == 0:
        return x.new_zeros(k, c, out_h, out_w)
    scale = torch.tensor(scale_value, dtype=dtype, device=x.device)
    offset = 0.5 if aligned else 0.0
    x1 = r[:, 1] * scale - offset
    y1 = r[:, 2] * scale - offset
    roi_w = (r[:, 3] * scale - offset) - x1
    roi_h = (r[:, 4] * scale - offset) - y1
    if not aligned:  # legacy behaviour: RoIs at least one cell wide and high
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / out_h
    bin_w = roi_w / out_w
    if sampling_ratio > 0:
        grid_h = torch.full((k,), int(sampling_ratio), dtype=torch.int64, device=x.device)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h / out_h).long()
        grid_w = torch.ceil(roi_w / out_w).long()
    count = (grid_h * grid_w).clamp(min=1).to(dtype)
    batch = r[:, 0].long()
    rows = x.to(dtype).permute(0, 2, 3, 1).reshape(n * height * width, c)  # (N·H·W, C)

    def pool(sub: torch.Tensor, gh_max: int, gw_max: int) -> torch.Tensor:
        """RoIAlign of the RoIs ``sub`` on sample grids padded to ``gh_max × gw_max``, ``[k, C, PH, PW]``."""
        y_index, y_weight = _axis_samples(y1[sub], bin_h[sub], grid_h[sub], out_h, gh_max, height)  # (k, PH, Gh, 2)
        x_index, x_weight = _axis_samples(x1[sub], bin_w[sub], grid_w[sub], out_w, gw_max, width)  # (k, PW, Gw, 2)
        m, taps_y, taps_x = sub.shape[0], gh_max * 2, gw_max * 2
        base = (batch[sub] * (height * width))[:, None, None]  # (k, 1, 1)
        yi = y_index.reshape(m, out_h * taps_y) * width  # (k, PH·2Gh)
        xi = x_index.reshape(m, out_w * taps_x)  # (k, PW·2Gw)
        flat = base + yi[:, :, None] + xi[:, None, :]  # (k, PH·2Gh, PW·2Gw)
        values = rows.index_select(0, flat.reshape(-1)).reshape(m * out_h, taps_y, out_w * taps_x * c)
        # the weighted sums over the taps as batched products (far faster than one three-operand
        # einsum): first along y, with the 1 / count of the mean folded in ...
        wy = (y_weight / count[sub][:, None, None, None]).reshape(m * out_h, 1, taps_y)
        along_y = torch.bmm(wy, values).reshape(m, out_h, out_w, 1, taps_x, c)  # (k, PH, PW, 1, 2Gw, C)
        # ... then along x
        wx = x_weight.reshape(m, 1, out_w, 1, 1, taps_x)
        pooled = torch.matmul(wx, along_y).reshape(m, out_h, out_w, c)  # (k, PH, PW, C)
        return pooled.permute(0, 3, 1, 2)

    out = _pooled_in_groups(pool, grid_h, grid_w, out_h * out_w * 4 * c, uniform=sampling_ratio > 0)
    return out.to(x.dtype).contiguous()


# ---------------------------------------------------------------------------------------------
# RoI max pooling


def _bin_edges(start: torch.Tensor, length: torch.Tensor, bins: int, size: int, dtype: torch.dtype):
    """Integer bin edges ``[K, bins]`` along one axis: floor/ceil of ``p·bin``, offset by ``start``, clipped."""
    bin_size = length.to(dtype) / bins  # (K,)
    p = torch.arange(bins, dtype=dtype, device=start.device)
    lo = torch.floor(p[None, :] * bin_size[:, None]).long() + start[:, None]
    hi = torch.ceil((p[None, :] + 1) * bin_size[:, None]).long() + start[:, None]
    return lo.clamp(0, size), hi.clamp(0, size)


def roi_pool(
    input: torch.Tensor,
    rois: torch.Tensor | Sequence[torch.Tensor],
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
) -> torch.Tensor:
    """Fast R-CNN RoI max pooling: the maximum of each bin of a grid laid on the RoI.

    Notes §3.5.4.3 ("each Region of Interest is divided into smaller grid, and
    region of interest pooling applies max-pooling over the grid");
    Girshick (2015).  Quantised as in torchvision's kernel:

    * corners scaled by ``spatial_scale`` and rounded with C's ``round()``
      (halves away from zero: ``-0.5 -> -1``, ``2.5 -> 3``);
    * RoI size ``max(end - start + 1, 1)`` cells (the end cell is included);
    * bin ``p`` spans ``[start + floor(p·s), start + ceil((p + 1)·s))`` with
      ``s = size / bins``, clipped to the map;
    * an empty bin (wholly outside the map) gives 0.

    The gradient (through autograd) goes to the maximal element of each bin;
    equal maxima share it evenly (torchvision gives it all to the first).

    Args:
        input: feature map.
        rois: ``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` or a list of
            ``[N_i, 4]`` boxes per image, in image coordinates.
        output_size: ``PH = PW`` (int) or ``(PH, PW)``.
        spatial_scale: factor from image to feature-map coordinates (``1 / stride``).

    Returns:
        the pooled features, in the dtype of ``input``.

    Shape:
        ``input``: ``[N, C, H, W]``; ``rois``: ``[K, 5]`` or list of ``[N_i, 4]``;
        output ``[K, C, PH, PW]``.

    Raises:
        TypeError: non-float input; ValueError: wrong shapes, batch indices out
        of range, non-positive ``output_size``/``spatial_scale``.
    """
    x, r, (out_h, out_w), scale_value, dtype = _prepare(input, rois, output_size, spatial_scale)
    n, c, height, width = x.shape
    k = r.shape[0]
    if k == 0 or height == 0 or width == 0:
        return x.new_zeros(k, c, out_h, out_w)
    scale = torch.tensor(scale_value, dtype=dtype, device=x.device)
    corners = _round_half_away(r[:, 1:] * scale).long()  # (K, 4): x1, y1, x2, y2 in cells
    start_w, start_h, end_w, end_h = corners.unbind(1)
    roi_w = (end_w - start_w + 1).clamp(min=1)
    roi_h = (end_h - start_h + 1).clamp(min=1)
    h_lo, h_hi = _bin_edges(start_h, roi_h, out_h, height, dtype)  # (K, PH)
    w_lo, w_hi = _bin_edges(start_w, roi_w, out_w, width, dtype)  # (K, PW)
    empty = (h_hi <= h_lo)[:, :, None] | (w_hi <= w_lo)[:, None, :]  # (K, PH, PW)
    span_h = (h_hi - h_lo).amax(dim=1)  # (K,): the tallest bin of each RoI
    span_w = (w_hi - w_lo).amax(dim=1)
    batch = r[:, 0].long()
    rows = x.permute(0, 2, 3, 1).reshape(n * height * width, c)  # (N·H·W, C)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)

    def pool(sub: torch.Tensor, lh: int, lw: int) -> torch.Tensor:
        """Max over each bin of the RoIs ``sub``, every bin read as an ``lh × lw`` window, ``[k, C, PH, PW]``."""
        # the window starts at the bin's top-left cell; cells past the bin's end are masked out
        row = h_lo[sub][:, :, None] + torch.arange(lh, device=x.device)  # (k, PH, Lh)
        col = w_lo[sub][:, :, None] + torch.arange(lw, device=x.device)  # (k, PW, Lw)
        ok = (row < h_hi[sub][:, :, None])[:, :, :, None, None] & (col < w_hi[sub][:, :, None])[:, None, None]
        flat = (
            (batch[sub] * (height * width))[:, None, None, None, None]
            + (row.clamp(max=height - 1) * width)[:, :, :, None, None]
            + col.clamp(max=width - 1)[:, None, None, :, :]
        )  # (k, PH, Lh, PW, Lw)
        values = rows.index_select(0, flat.reshape(-1)).reshape(*flat.shape, c)
        values = values.masked_fill(~ok[..., None], float("-inf"))
        values = values.permute(0, 5, 1, 3, 2, 4).reshape(sub.shape[0], c, out_h, out_w, lh * lw)
        best = values.amax(dim=-1)  # (k, C, PH, PW); several times faster than max(dim) with its indices
        return torch.where(empty[sub][:, None], zero, best)

    return _pooled_in_groups(pool, span_h, span_w, out_h * out_w * c, uniform=False)
