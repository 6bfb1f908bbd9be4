"""The page: three tabs, each built by its own function, then wired to the handlers.

Component elem_ids are stable so the browser tests can find them; each tab's outputs are the
dataclasses of avel/app/outputs.py, filled here with components and by the handlers with values.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

import viz
from avel.app.handlers import App
from avel.app.outputs import CrossModalOutputs, DatasetOutputs, LocalizeOutputs
from avel.training.runs import RUNS_TABLE_HEADERS

TITLE = "avel: audio-visual event localization"
INTRO = (
    "# avel: audio-visual event localization\n"
    "When is an event in a video both **audible and visible**, what is it, and **where** is it? "
    "The co-attention model (Xue et al., IEEE TMM) beside the AVE baseline (Tian et al., ECCV 2018)."
)


@dataclass
class LocalizeTab:
    video: gr.Video
    run: gr.Button
    make_videos: gr.Button
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


def _clip_input(app: App) -> tuple[gr.Video, gr.Button]:
    """The upload, its button, what lengths are taken, and the examples."""
    video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
    run = gr.Button("Localize events", variant="primary", elem_id="localize-button")
    gr.Markdown(
        f"Clips up to {app.config.max_clip_seconds} s. Over {app.config.normal_clip_seconds} s a clip is "
        "localized in windows, with progress: each model's most eventful seconds as heatmaps, and no "
        "overlay videos, t-SNE placement, backbone tags or cross-modal matching.",
        elem_id="length-note",
    )
    examples = sorted(str(p) for p in app.config.assets.glob("*.mp4"))
    if examples:
        gr.Examples(examples=examples, inputs=video, label="Examples (composite benchmark)")
    return video, run


def _heatmap_views(names: list[str]) -> tuple[list[gr.Image], list[gr.Markdown]]:
    heatmaps, captions = [], []
    for i, name in enumerate(names):
        gr.Markdown(  # above the image, not as its label: a label would hide the first captions
            f"**{name}: spatial attention** (class and probability · event probability; "
            "background and unsure seconds greyed)"
        )
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


def localize_tab(app: App) -> LocalizeTab:
    names = list(app.analyzer.localizers)
    with gr.Row():
        with gr.Column(scale=1):
            video, run = _clip_input(app)
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="summary")
            timeline = gr.Plot(label="Per-second events (drag to zoom)", elem_id="timeline")
    heatmaps, captions = _heatmap_views(names)
    make_videos = gr.Button("Make attention overlay videos", elem_id="overlay-button")
    with gr.Row():
        overlay_videos = [
            gr.Video(
                label=f"{name}: attention overlay, with the clip's sound",
                interactive=False,
                elem_id=f"overlay-{i}",
            )
            for i, name in enumerate(names)
        ]
    with gr.Row():
        tables = [
            gr.Dataframe(headers=viz.top_k_headers(), label=f"{name}: top-3 per second", elem_id=f"top3-{i}")
            for i, name in enumerate(names)
        ]
    tags = gr.Dataframe(
        headers=viz.TAG_HEADERS,
        label="What the pretrained backbones perceive (a zero-shot reference, not our classes)",
        elem_id="backbone-tags",
    )
    placement = gr.Image(
        label=f"The clip in the feature space: its seconds on the t-SNE maps of {_source(app)}",
        type="filepath",
        interactive=False,
        elem_id="placement",
    )
    outputs = LocalizeOutputs(
        summary, timeline, heatmaps, captions, overlay_videos, tables, tags, placement, None, None
    )
    return LocalizeTab(video, run, make_videos, outputs)


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
    with gr.Row():
        confusions = [
            gr.Plot(label=f"{name}: confusion matrix", elem_id=f"confusion-{i}")
            for i, name in enumerate(app.analyzer.localizers)
        ]
    per_class = gr.Plot(label="Per-class accuracy", elem_id="per-class")
    tsne = gr.Plot(label="t-SNE: raw, CSPA and CSEA features", elem_id="tsne")
    runs = gr.Dataframe(headers=list(RUNS_TABLE_HEADERS), label="Runs (Table V analogue)")
    return DatasetTab(data_dir, split, explore, DatasetOutputs(text, confusions, per_class, tsne, runs))


def wire(app: App, clip: LocalizeTab, matching: CrossModalTab, dataset: DatasetTab) -> None:
    """Each button to its handler; the api_names are the app's public API (gradio_client)."""
    clip.outputs.span_start, clip.outputs.span_end = matching.span_start, matching.span_end
    workers = app.config.analysis_workers  # side by side: long clips take turns inside (App._turn)
    clip.run.click(
        app.localize,
        inputs=clip.video,
        outputs=clip.outputs.flat(),
        api_name="localize",
        concurrency_limit=workers,
    )
    clip.make_videos.click(
        app.overlay_videos,
        inputs=clip.video,
        outputs=clip.outputs.overlay_videos,
        api_name="overlay_videos",
        concurrency_limit=workers,
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
