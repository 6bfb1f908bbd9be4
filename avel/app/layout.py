"""The page: three tabs, each built by its own function, then wired to the handlers.

Component elem_ids are stable so the browser tests can find them; each tab's outputs are the
dataclasses of avel/app/outputs.py, filled here with components and by the handlers with values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

import viz
from avel.app.handlers import NO_EVENT_CHOICE, App
from avel.app.outputs import CrossModalOutputs, DatasetOutputs, LocalizeOutputs
from avel.app.views import HEATMAP_EXPLANATION
from avel.training.runs import RUNS_TABLE_HEADERS

PLAYBACK_JS = (Path(__file__).with_name("playback.js")).read_text(encoding="utf-8")
CSS = """
#selected-second { display: none !important; }
#timeline-cursor { position: absolute; width: 2px; background: #e4002b; pointer-events: none; z-index: 10; }
"""

TITLE = "avel: audio-visual event localization"
INTRO = (
    "# avel: audio-visual event localization\n"
    "When is an event in a video both **audible and visible**, what is it, and **where** is it? "
    "The co-attention model (Xue et al., IEEE TMM) beside the AVE baseline (Tian et al., ECCV 2018)."
)


@dataclass
class ClipInput:
    """The upload, its button, and the optional truth of "score your own clip"."""

    video: gr.Video
    run: gr.Button
    event: gr.Dropdown
    event_start: gr.Number
    event_end: gr.Number

    def all(self) -> list:
        return [self.video, self.event, self.event_start, self.event_end]


@dataclass
class LocalizeTab:
    clip: ClipInput
    make_videos: gr.Button
    make_downloads: gr.Button
    selected: gr.Textbox  # set by the page's script when a second of the timeline is clicked
    outputs: LocalizeOutputs  # span_start/span_end are the cross-modal tab's sliders, set once built


@dataclass
class CrossModalTab:
    direction: gr.Radio
    span_start: gr.Slider
    span_end: gr.Slider
    match: gr.Button
    outputs: CrossModalOutputs


@dataclass
class DatasetTab:
    data_dir: gr.Textbox
    split: gr.Dropdown
    explore: gr.Button
    outputs: DatasetOutputs


def _source(app: App) -> str:
    return app.summary.source if app.summary is not None else "none bundled"


def _clip_input(app: App) -> ClipInput:
    """The upload, its button, what lengths are taken, the examples, and "score your own clip"."""
    video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
    with gr.Accordion("Score your own clip (optional): its event and when it happens", open=False):
        event = gr.Dropdown(
            [NO_EVENT_CHOICE, *app.analyzer.trained_events],
            value=NO_EVENT_CHOICE,
            label="Event class",
            elem_id="truth-class",
        )
        with gr.Row():
            event_start = gr.Number(0, label="from (s)", precision=0, minimum=0, elem_id="truth-start")
            event_end = gr.Number(0, label="to (s, exclusive)", precision=0, minimum=0, elem_id="truth-end")
    run = gr.Button("Localize events", variant="primary", elem_id="localize-button")
    gr.Markdown(
        f"Clips up to {app.config.max_clip_seconds} s. Over {app.config.normal_clip_seconds} s a clip is "
        "localized in windows, with progress: each model's most eventful seconds as heatmaps, and no "
        "overlay videos, t-SNE placement, backbone tags or cross-modal matching.",
        elem_id="length-note",
    )
    examples = sorted(app.config.assets.glob("*.mp4"))
    if examples:
        gr.Examples(
            examples=[str(p) for p in examples],
            inputs=video,
            label="Examples (composite benchmark)",
            example_labels=[p.stem for p in examples],
            elem_id="examples",
        )
    return ClipInput(video, run, event, event_start, event_end)


def _heatmap_views(names: list[str]) -> tuple[list[gr.Image], list[gr.Markdown]]:
    heatmaps, captions = [], []
    gr.Markdown(HEATMAP_EXPLANATION, elem_id="heatmap-explanation")
    for i, name in enumerate(names):
        gr.Markdown(f"**{name}: spatial attention**")  # above the image: a label would hide the captions
        heatmaps.append(
            gr.Image(
                label=f"{name}: spatial attention",
                show_label=False,
                type="filepath",
                interactive=False,
                elem_id=f"heatmap-{i}",
            )
        )
        captions.append(gr.Markdown(elem_id=f"heatmap-captions-{i}"))
    return heatmaps, captions


def _clip_details(
    app: App, names: list[str]
) -> tuple[list[gr.Video], list[gr.Dataframe], gr.Dataframe, gr.Image]:
    """Under the heatmaps: overlay videos, top-3 tables, the backbones' tags and the t-SNE placement."""
    with gr.Row():
        overlay_videos = [
            gr.Video(
                label=f"{name}: attention overlay, with the clip's sound",
                interactive=False,
                elem_id=f"overlay-{i}",
            )
            for i, name in enumerate(names)
        ]
    tables = [  # one under the other: side by side, the Top 2/3 columns were cut off
        gr.Dataframe(
            headers=viz.top_k_headers(),
            label=f"{name}: top-3 per second",
            elem_id=f"top3-{i}",
            wrap=True,
            max_height=320,
        )
        for i, name in enumerate(names)
    ]
    tags = gr.Dataframe(
        headers=viz.TAG_HEADERS,
        label="What the pretrained backbones perceive (a zero-shot reference, not our classes)",
        elem_id="backbone-tags",
    )
    gr.Markdown(f"**The clip in the feature space:** its seconds on the t-SNE maps of {_source(app)}")
    placement = gr.Image(  # a heading above, not a label over the figure's title
        show_label=False,
        type="filepath",
        interactive=False,
        elem_id="placement",
    )
    return overlay_videos, tables, tags, placement


def localize_tab(app: App) -> LocalizeTab:
    names = list(app.analyzer.localizers)
    with gr.Row():
        with gr.Column(scale=1):
            clip = _clip_input(app)
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="summary")
            gr.Markdown(
                "**Per second:** each model's answer (cells), then the probability of that answer (solid) "
                "and of an event, 1 - p(background) (dashed), with each model's abstention threshold "
                "(dotted). The red line follows the video; **click a second** to see its frame and heatmaps.",
                elem_id="timeline-help",
            )
            timeline = gr.Plot(show_label=False, elem_id="timeline")
            selected = gr.Textbox(elem_id="selected-second", show_label=False, container=False)
            second_text = gr.Markdown(elem_id="second-text")
            second_image = gr.Image(
                show_label=False, interactive=False, elem_id="second-heatmaps", type="numpy", height=220
            )
    heatmaps, captions = _heatmap_views(names)
    make_videos = gr.Button("Make attention overlay videos", elem_id="overlay-button")
    overlay_videos, tables, tags, placement = _clip_details(app, names)
    make_downloads = gr.Button("Prepare downloads: results (JSON, CSV), heatmaps (PNG), timeline (SVG)")
    downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
    outputs = LocalizeOutputs(
        summary, timeline, heatmaps, captions, overlay_videos, tables, tags, placement, downloads,
        second_image, second_text, None, None,
    )  # fmt: skip
    return LocalizeTab(clip, make_videos, make_downloads, selected, outputs)


def cross_modal_tab(app: App) -> CrossModalTab:
    gr.Markdown(
        "Pick a span in one modality; each CML model slides it over the other modality and the window "
        "with the smallest summed distance is its answer (A2V: audio query, find the visual span; V2A: "
        f"the reverse). **It takes clips up to {app.config.normal_clip_seconds} s**: analyse one in the "
        "first tab first.",
        elem_id="cml-note",
    )
    with gr.Row():
        direction = gr.Radio(["A2V", "V2A"], value="A2V", label="Direction", elem_id="cml-direction")
        span_start = gr.Slider(0, 9, value=0, step=1, label="Span start (s)", elem_id="cml-start")
        span_end = gr.Slider(1, 10, value=10, step=1, label="Span end (s, exclusive)", elem_id="cml-end")
    match = gr.Button("Match", variant="primary", elem_id="cml-button")
    text = gr.Markdown(elem_id="cml-result")
    plots = [
        gr.Plot(label=f"{name}: window distances", elem_id=f"cml-plot-{i}")
        for i, name in enumerate(app.analyzer.matchers)
    ]
    return CrossModalTab(direction, span_start, span_end, match, CrossModalOutputs(text, plots))


def dataset_tab(app: App) -> DatasetTab:
    with gr.Row():
        data_dir = gr.Textbox(
            "",
            label=f"Dataset folder (AVE layout) under {app.roots_text()}",
            placeholder=f"empty: the bundled summary ({_source(app)})",
            scale=3,
            elem_id="data-dir",
        )
        split = gr.Dropdown(["test", "val", "train"], value="test", label="Split (of a folder)", scale=1)
    explore = gr.Button("Analyse dataset", variant="primary", elem_id="explore-button")
    text = gr.Markdown(elem_id="explore-result")
    # headings above the figures, not labels over them: a label hid a title and the matrices' first row
    confusions = []  # one under the other, at the page's width: side by side their ticks were tiny
    for i, name in enumerate(app.analyzer.localizers):
        gr.Markdown(f"**{name}: confusion matrix**")
        confusions.append(gr.Plot(show_label=False, elem_id=f"confusion-{i}"))
    gr.Markdown("**Per-class accuracy**")
    per_class = gr.Plot(show_label=False, elem_id="per-class")
    attention_note = gr.Markdown(elem_id="attention-note")  # under per-class accuracy: per class too
    attention = gr.Dataframe(show_label=False, elem_id="attention-accuracy")
    gr.Markdown("**t-SNE of the raw, CSPA and CSEA features**")
    tsne = gr.Plot(show_label=False, elem_id="tsne")
    gr.Markdown("**Runs (Table V analogue)**")
    runs_note = gr.Markdown(elem_id="runs-note")
    runs = gr.Dataframe(headers=list(RUNS_TABLE_HEADERS), show_label=False, elem_id="runs")
    outputs = DatasetOutputs(text, confusions, per_class, attention_note, attention, tsne, runs_note, runs)
    return DatasetTab(data_dir, split, explore, outputs)


def wire(app: App, clip: LocalizeTab, matching: CrossModalTab, dataset: DatasetTab) -> None:
    """Each button to its handler; the api_names are the app's public API (gradio_client)."""
    clip.outputs.span_start, clip.outputs.span_end = matching.span_start, matching.span_end
    workers = app.config.analysis_workers  # side by side: long clips take turns inside (App._turn)
    clip.clip.run.click(
        app.localize,
        inputs=clip.clip.all(),
        outputs=clip.outputs.flat(),
        api_name="localize",
        concurrency_limit=workers,
    )
    clip.make_videos.click(
        app.overlay_videos,
        inputs=clip.clip.video,
        outputs=clip.outputs.overlay_videos,
        api_name="overlay_videos",
        concurrency_limit=workers,
    )
    clip.make_downloads.click(
        app.downloads,
        inputs=clip.clip.all(),
        outputs=clip.outputs.downloads,
        api_name="downloads",
        concurrency_limit=workers,
    )
    clip.selected.change(
        app.second,
        inputs=[clip.clip.video, clip.selected],
        outputs=[clip.outputs.second_image, clip.outputs.second_text],
        api_name="second",
    )
    matching.match.click(
        app.cross_modal,
        inputs=[matching.direction, matching.span_start, matching.span_end],
        outputs=matching.outputs.flat(),
        api_name="cross_modal",
    )
    dataset.explore.click(
        app.explore,
        inputs=[dataset.data_dir, dataset.split],
        outputs=dataset.outputs.flat(),
        api_name="explore",
    )


def build_demo(app: App) -> gr.Blocks:
    """The page: the intro, what the models know, and the three tabs."""
    with gr.Blocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(app.known_classes, elem_id="known-classes")
        with gr.Tabs():
            with gr.Tab("Localize a clip"):
                clip = localize_tab(app)
            with gr.Tab("Cross-modal localization"):
                matching = cross_modal_tab(app)
            with gr.Tab("Dataset analysis"):
                dataset = dataset_tab(app)
        wire(app, clip, matching, dataset)
        demo.unload(app.end_session)
    return demo
