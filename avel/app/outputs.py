"""Each tab's outputs, named once: the layout fills these with components, the handlers with values.

Gradio matches a handler's returned values to its output components by position; a dataclass
per tab keeps that order in one place (its field order), so the layout and the handler cannot
drift apart. A list field holds one entry per model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


class Ordered:
    """Flattens a dataclass's fields, in declaration order, into Gradio's positional outputs."""

    def flat(self) -> list[Any]:
        """One entry per component: a `list[Item]` field gives one per model; any other field one
        (whatever its value: a table's rows are one component's value)."""
        items: list[Any] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            items += list(value) if str(f.type).startswith("list[") else [value]
        return items


@dataclass
class LocalizeOutputs(Ordered, Generic[Item]):
    """The Localize tab's outputs (and the cross-modal tab's sliders, set to the clip's span)."""

    summary: Item
    timeline: Item
    heatmaps: list[Item]
    captions: list[Item]
    overlay_videos: list[Item]
    tables: list[Item]
    tags: Item
    placement: Item
    downloads: Item  # made on request: a new clip clears the last one's
    second_image: Item  # the second clicked on the timeline: a new clip clears it
    second_text: Item
    span_start: Item
    span_end: Item


@dataclass
class CrossModalOutputs(Ordered, Generic[Item]):
    text: Item
    plots: list[Item]  # one per CML model


@dataclass
class DatasetOutputs(Ordered, Generic[Item]):
    text: Item
    confusions: list[Item]  # one per localizer
    per_class: Item
    attention_note: Item  # what the attention accuracy numbers mean, or why there are none
    attention: Item  # attention accuracy per model, all classes then per class
    tsne: Item
    runs_note: Item
    runs: Item
