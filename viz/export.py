"""Figures in and out: a pyplot-free matplotlib Figure, figure -> RGB array, figure -> file.

Figures are built as `matplotlib.figure.Figure` objects and drawn with the Agg canvas, never
through pyplot: nothing is registered in pyplot's global figure list, so nothing needs closing,
no display is needed, and the caller's (e.g. a notebook's) backend is left alone.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DPI = 100  # figure inches x DPI = pixels of `figure_to_image` and saved PNGs
MATPLOTLIB_SUFFIXES = (".png", ".pdf", ".svg")


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure with an Agg canvas attached, sized in inches, laid out without clipped labels."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig


def figure_to_image(fig: Figure) -> np.ndarray:
    """Render a matplotlib Figure to an (H, W, 3) uint8 RGB array."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # (H, W, 4) RGBA -> (H, W, 3)


def _kaleido_available() -> bool:
    """plotly's static-image exporter is an optional package; look for it without importing it."""
    return importlib.util.find_spec("kaleido") is not None


def save_figure(fig: Figure | go.Figure, path: str | Path) -> Path:
    """Write a figure and return the path actually written.

    matplotlib: PNG/PDF/SVG by suffix (PNG when there is none). plotly: PNG needs kaleido; without
    it (or for any other suffix) the figure is written as a self-contained HTML file next to the
    requested path, with suffix .html, so reports work offline.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(fig, Figure):
        path = path if path.suffix else path.with_suffix(".png")
        if path.suffix not in MATPLOTLIB_SUFFIXES:
            raise ValueError(
                f"path: expected a suffix in {MATPLOTLIB_SUFFIXES} for a matplotlib figure, got {path.name}"
            )
        fig.savefig(path, dpi=DPI)
        return path
    if isinstance(fig, go.Figure):
        if path.suffix == ".png" and _kaleido_available():
            fig.write_image(path)
            return path
        if path.suffix != ".html":
            logger.warning("writing %s as HTML: plotly figures save as HTML, or PNG with kaleido", path.name)
            path = path.with_suffix(".html")
        fig.write_html(path, include_plotlyjs=True)  # plotly.js inlined: viewable offline
        return path
    raise TypeError(f"fig: expected a matplotlib or plotly Figure, got {type(fig).__name__}")
