"""Plotting for avel: plain functions from numpy arrays and lists to figures, images and text.

Nothing here knows about models: the app, the reports and notebooks pass arrays in and get
matplotlib Figures, plotly Figures, RGB uint8 arrays or strings back. Seconds follow one
convention everywhere: segment t covers [t, t+1) s and spans are written by their boundaries
("Bark, seconds 3-7" = segments 3..6).
"""

from viz.cml import cml_distance_figure
from viz.colors import BACKGROUND_COLOR, class_colors, model_colors
from viz.confusion import confusion_matrix_figure, normalize_rows, per_class_accuracy_figure
from viz.export import figure_to_image, save_figure
from viz.heatmap import (
    BOX_LEGEND,
    attention_gallery,
    attention_heat,
    attention_overlay,
    attention_overlays,
    blend,
    caption_band,
    draw_box,
    gallery_tiles,
    mute,
    upsample_attention,
)
from viz.summary import (
    NO_EVENT,
    TAG_HEADERS,
    label_spans,
    span_label,
    summarize_events,
    tags_table,
    top_k_headers,
    top_k_table,
)
from viz.timeline import ABSTENTIONS, NOT_KNOWN, UNSURE, AnswerState, event_timeline
from viz.timeline_image import timeline_image
from viz.tsne import HighlightedMaps, stratified_subsample, tsne_embedding, tsne_figure

__all__ = [
    "ABSTENTIONS",
    "BACKGROUND_COLOR",
    "BOX_LEGEND",
    "NOT_KNOWN",
    "NO_EVENT",
    "TAG_HEADERS",
    "UNSURE",
    "AnswerState",
    "HighlightedMaps",
    "attention_gallery",
    "attention_heat",
    "attention_overlay",
    "attention_overlays",
    "blend",
    "caption_band",
    "class_colors",
    "cml_distance_figure",
    "confusion_matrix_figure",
    "draw_box",
    "event_timeline",
    "figure_to_image",
    "gallery_tiles",
    "label_spans",
    "model_colors",
    "mute",
    "normalize_rows",
    "per_class_accuracy_figure",
    "save_figure",
    "span_label",
    "stratified_subsample",
    "summarize_events",
    "tags_table",
    "timeline_image",
    "top_k_headers",
    "top_k_table",
    "tsne_embedding",
    "tsne_figure",
    "upsample_attention",
]
