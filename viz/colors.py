"""One colour per class and per model, so the same event looks the same in every plot.

Colours are fixed by class *index* (AVE's categories.txt order), not by which classes a plot
happens to show, so "Bark" is the same colour in the timeline, the t-SNE panels and the legend.
"""

from __future__ import annotations

from matplotlib import colormaps
from matplotlib.colors import to_hex

from viz.validate import Classes, resolve_background

BACKGROUND_COLOR = "#a6a6a6"  # neutral grey: background is "no event", it should not draw the eye
BEST_COLOR = "#d62728"  # red: the chosen (best-matching) item in a ranking
TRUTH_COLOR = "#2ca02c"  # green: the ground truth


def _event_palette() -> tuple[str, ...]:
    """38 distinguishable colours: tab20's strong then light halves without its greys, then tab20b.

    Strong colours first so that neighbouring class indices are not a colour and its pale twin.
    """
    tab20 = [to_hex(c) for c in colormaps["tab20"].colors]
    greys = set(tab20[14:16])  # tab20's grey pair, kept for background
    ordered = [c for c in tab20[0::2] + tab20[1::2] if c not in greys]
    return (*ordered, *(to_hex(c) for c in colormaps["tab20b"].colors))


EVENT_PALETTE: tuple[str, ...] = _event_palette()  # enough for AVE's 28 events; cycles beyond


def class_colors(classes: Classes, background_index: int | None = -1) -> list[str]:
    """Hex colour of every class, indexed like `classes`; the background class is grey.

    `background_index` may be negative (Python indexing) or None when the class set has no
    background. More classes than `EVENT_PALETTE` holds reuse colours cyclically.
    """
    background = resolve_background(background_index, len(classes))
    return [
        BACKGROUND_COLOR if index == background else EVENT_PALETTE[index % len(EVENT_PALETTE)]
        for index in range(len(classes))
    ]


def model_colors(model_names: list[str]) -> dict[str, str]:
    """A colour per model name, in the given order (tab10), for bars and lines comparing models."""
    palette = [to_hex(c) for c in colormaps["tab10"].colors]
    return {name: palette[i % len(palette)] for i, name in enumerate(model_names)}
