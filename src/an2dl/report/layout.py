"""The house style applied to every saved plot (:func:`~an2dl.report.plots.save_figure`).

Two fixes that every recipe's figures need, made in one place:

* an axis labelled with epochs gets integer ticks (``1, 2, 3``, never
  ``1.00, 1.25, 1.50`` for a two-epoch run);
* a legend that covers plotted data (lines, markers, bars, filled areas)
  moves: first to a corner or side of the axes where it covers nothing, else
  outside the axes, to their right (or below them when another plot sits to
  their right).  The figure is saved with a tight bounding box, so a legend
  outside the axes is kept in the PNG.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tidy_figure", "integer_epoch_ticks", "legend_covers_data", "place_legend"]

#: positions tried inside the axes, in order, before a legend goes outside
_INSIDE = ("upper right", "upper left", "lower right", "lower left", "center right", "center left",
           "upper center", "lower center")


def integer_epoch_ticks(ax: Any) -> bool:
    """Integer ticks on the x axis of ``ax`` when its label mentions epochs; returns whether it did."""
    from matplotlib.ticker import MaxNLocator

    if "epoch" not in ax.get_xlabel().lower():
        return False
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return True


def legend_covers_data(ax: Any, renderer: Any) -> bool:
    """Whether the legend of ``ax`` (as last drawn) overlaps a line, marker, bar or filled area of ``ax``."""
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return False
    box = legend.get_window_extent(renderer)
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xydata()) == 0:
            continue
        path = line.get_transform().transform_path(line.get_path())
        if path.intersects_bbox(box, filled=False) or box.count_contains(path.vertices) > 0:
            return True
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        offsets = coll.get_offsets()
        if len(offsets) and box.count_contains(coll.get_offset_transform().transform(offsets)) > 0:
            return True
        transform = coll.get_transform()
        for path in coll.get_paths():
            if len(path.vertices) > 2 and transform.transform_path(path).intersects_bbox(box, filled=True):
                return True
    for patch in ax.patches:
        if patch.get_visible() and patch.get_window_extent(renderer).overlaps(box):
            return True
    return False


def _has_neighbour_right(ax: Any) -> bool:
    """Another axes of the figure lies to the right of ``ax`` at the same height."""
    pos = ax.get_position()
    for other in ax.figure.get_axes():
        if other is ax or not other.get_visible():
            continue
        o = other.get_position()
        if o.x0 >= pos.x1 - 1e-6 and o.y0 < pos.y1 and o.y1 > pos.y0:
            return True
    return False


def _legend_args(ax: Any) -> tuple[list[Any], list[str], dict[str, Any]]:
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    handles, own_labels = ax.get_legend_handles_labels()
    if own_labels != labels:  # a legend of chosen entries: keep its own handles
        handles = list(getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", []))
    kw: dict[str, Any] = {}
    if legend.get_texts():
        kw["fontsize"] = legend.get_texts()[0].get_fontsize()
    title = legend.get_title().get_text()
    if title:
        kw["title"] = title
    return handles, labels, kw


def place_legend(ax: Any, renderer: Any) -> str:
    """Move the legend of ``ax`` off its data (see the module docstring); returns where it went.

    Returns:
        ``"kept"``, the inside position chosen (``"upper left"``, ...), ``"outside right"`` or ``"below"``.
    """
    fig = ax.figure
    if not legend_covers_data(ax, renderer):
        return "kept"
    handles, labels, kw = _legend_args(ax)
    ncol = getattr(ax.get_legend(), "_ncols", 1)
    for loc in _INSIDE:
        ax.legend(handles, labels, loc=loc, ncol=ncol, **kw)
        fig.canvas.draw()
        if not legend_covers_data(ax, renderer):
            return loc
    if not _has_neighbour_right(ax):
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  ncol=1 if len(labels) <= 16 else 2, **kw)
        return "outside right"
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), borderaxespad=0.0,
              ncol=min(len(labels), 3), **kw)
    return "below"


def tidy_figure(fig: Any) -> dict[str, str]:
    """Apply the house style to every axes of ``fig``; returns ``{axes index: legend placement}``."""
    placed: dict[str, str] = {}
    axes = list(fig.get_axes())
    for ax in axes:
        integer_epoch_ticks(ax)
    with_legend = [(i, ax) for i, ax in enumerate(axes) if ax.get_legend() is not None]
    if not with_legend:
        return placed
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for i, ax in with_legend:
        placed[str(i)] = place_legend(ax, renderer)
    return placed
