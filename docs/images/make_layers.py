"""Draw docs/images/layers.png: an2dl's top-level modules stacked by layer (DESIGN §3).

The table comes from ``an2dl._utils.layers``, the one the layering test
enforces, so the picture shows the rule the tests apply.  Run it after
changing the table:

    .venv/bin/python docs/images/make_layers.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from an2dl._utils.layers import LAYER_TITLES, LAYERS, NEVER_IMPORTS  # noqa: E402

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "src" / "an2dl"
OUT = HERE / "layers.png"

BOX_W, BOX_H, GAP, FLOOR_H = 1.7, 0.62, 0.25, 1.0
LABEL_X = -0.2  # floor titles sit left of the boxes
FILL, PLANNED, EDGE = "#dbe8f4", "#ffffff", "#3b5b7a"


def _label(name: str) -> str:
    if name == "__init__":
        return "an2dl"
    path = PACKAGE / name
    return f"{name}/" if path.is_dir() else f"{name}.py"


def _exists(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def draw(out: Path = OUT) -> Path:
    widest = max(len(layer) for layer in LAYERS)
    width = widest * (BOX_W + GAP)
    fig, ax = plt.subplots(figsize=(11, 0.72 * len(LAYERS) + 1.4))
    for i, (layer, title) in enumerate(zip(LAYERS, LAYER_TITLES)):
        y = i * FLOOR_H
        ax.axhline(y - 0.5 * FLOOR_H + 0.04, color="#c8c8c8", lw=0.6, zorder=0)
        ax.text(LABEL_X, y, f"{i}  {title}", ha="right", va="center", fontsize=8.5, color="#333333")
        names = sorted(layer, key=lambda n: (not _exists(n), n.strip("_")))
        row = len(names) * (BOX_W + GAP) - GAP
        x0 = (width - row) / 2
        for j, name in enumerate(names):
            x = x0 + j * (BOX_W + GAP)
            planned = not _exists(name)
            ax.add_patch(FancyBboxPatch((x, y - BOX_H / 2), BOX_W, BOX_H, boxstyle="round,pad=0.02,rounding_size=0.08",
                                        facecolor=PLANNED if planned else FILL, edgecolor=EDGE,
                                        linestyle="--" if planned else "-", lw=1.0))
            text = f"{name}/\n(planned)" if planned else _label(name)
            ax.text(x + BOX_W / 2, y, text, ha="center", va="center", fontsize=9,
                    color="#777777" if planned else "#111111", family="monospace")
    # one arrow: the direction every import takes
    arrow_x = width + 0.35
    ax.add_patch(FancyArrowPatch((arrow_x, (len(LAYERS) - 1) * FLOOR_H), (arrow_x, 0), arrowstyle="-|>",
                                 mutation_scale=14, color=EDGE, lw=1.2))
    ax.text(arrow_x + 0.15, (len(LAYERS) - 1) * FLOOR_H / 2, "imports go down\n(or stay on a floor)",
            rotation=90, ha="left", va="center", fontsize=8.5, color=EDGE)
    never = "; ".join(f"{a} ↛ {', '.join(sorted(b))}" for a, b in NEVER_IMPORTS.items())
    ax.text(width / 2, -0.95 * FLOOR_H, f"never, not even inside a function: {never}.  No import circles.",
            ha="center", va="center", fontsize=8.5, color="#333333")
    ax.set_xlim(LABEL_X - 4.6, width + 0.9)
    ax.set_ylim(-1.25 * FLOOR_H, (len(LAYERS) - 0.4) * FLOOR_H)
    ax.axis("off")
    ax.set_title("an2dl: layers, bottom to top (src/an2dl/_utils/layers.py)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw())
