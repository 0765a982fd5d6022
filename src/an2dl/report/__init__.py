"""Run reports: plots (PNG) and a self-contained HTML page (DESIGN §7)."""

from .html import write_report
from .plots import save_figure

__all__ = ["write_report", "save_figure"]
