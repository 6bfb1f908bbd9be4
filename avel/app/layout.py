"""The page: three tabs and their wiring to the handlers; stable elem_ids for the browser tests."""

from __future__ import annotations

import gradio as gr

import viz
from avel.analysis.dataset import (
    RUNS_TABLE_HEADERS,
)
from avel.app.handlers import App


def build_demo(app: App) -> gr.Blocks:
    """The three tabs; component elem_ids are stable so browser tests can find them."""
    names = list(app.analyzer.localizers)
    matchers = list(app.analyzer.matchers)
    examples = sorted(str(p) for p in app.config.assets.glob("*.mp4"))
    source = app.summary.source if app.summary is not None else "none bundled"
    with gr.Blocks(title="avel: audio-visual event localization", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# avel: audio-visual event localization\n"
            "When is an event in a video both **audible and visible**, what is it, and **where** is it? "
            "The co-attention model (Xue et al., IEEE TMM) beside the AVE baseline (Tian et al., ECCV 2018)."
        )
        gr.Markdown(app.known_classes, elem_id="known-classes")
        with gr.Tabs():
            with gr.Tab("Localize a clip"):
                with gr.Row():
                    with gr.Column(scale=1):
                        video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                        run = gr.Button("Localize events", variant="primary", elem_id="localize-button")
                        gr.Markdown(
                            f"Clips up to {app.config.max_clip_seconds} s. Over "
                            f"{app.config.normal_clip_seconds} s a clip is localized in windows, with "
                            "progress: each model's most eventful seconds as heatmaps, and no overlay "
                            "videos, t-SNE placement, backbone tags or cross-modal matching.",
                            elem_id="length-note",
                        )
                        if examples:
                            gr.Examples(
                                examples=examples, inputs=video, label="Examples (composite benchmark)"
                            )
                    with gr.Column(scale=2):
                        summary = gr.Markdown(elem_id="summary")
                        timeline = gr.Plot(label="Per-second events (drag to zoom)", elem_id="timeline")
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
                        gr.Dataframe(
                            headers=viz.top_k_headers(),
                            label=f"{name}: top-3 per second",
                            elem_id=f"top3-{i}",
                        )
                        for i, name in enumerate(names)
                    ]
                tags = gr.Dataframe(
                    headers=viz.TAG_HEADERS,
                    label="What the pretrained backbones perceive (a zero-shot reference, not our classes)",
                    elem_id="backbone-tags",
                )
                placement = gr.Image(
                    label=f"The clip in the feature space: its seconds on the t-SNE maps of {source}",
                    type="filepath",
                    interactive=False,
                    elem_id="placement",
                )
            with gr.Tab("Cross-modal localization"):
                gr.Markdown(
                    "Pick a span in one modality; each CML model slides it over the other modality and "
                    "the window with the smallest summed distance is its answer (A2V: audio query, find the "
                    "visual span; V2A: the reverse). **It takes clips up to "
                    f"{app.config.normal_clip_seconds} s**: analyse one in the first tab first.",
                    elem_id="cml-note",
                )
                with gr.Row():
                    direction = gr.Radio(
                        ["A2V", "V2A"], value="A2V", label="Direction", elem_id="cml-direction"
                    )
                    span_start = gr.Slider(0, 9, value=0, step=1, label="Span start (s)", elem_id="cml-start")
                    span_end = gr.Slider(
                        1, 10, value=10, step=1, label="Span end (s, exclusive)", elem_id="cml-end"
                    )
                match = gr.Button("Match", variant="primary", elem_id="cml-button")
                match_text = gr.Markdown(elem_id="cml-result")
                match_plots = [
                    gr.Plot(label=f"{name}: window distances", elem_id=f"cml-plot-{i}")
                    for i, name in enumerate(matchers)
                ]
            with gr.Tab("Dataset analysis"):
                with gr.Row():
                    data_dir = gr.Textbox(
                        "",
                        label=f"Dataset folder (AVE layout) under {app._roots_text()}",
                        placeholder=f"empty: the bundled summary ({source})",
                        scale=3,
                        elem_id="data-dir",
                    )
                    split = gr.Dropdown(
                        ["test", "val", "train"], value="test", label="Split (of a folder)", scale=1
                    )
                explore = gr.Button("Analyse dataset", variant="primary", elem_id="explore-button")
                explore_text = gr.Markdown(elem_id="explore-result")
                with gr.Row():
                    confusion_plots = [
                        gr.Plot(label=f"{name}: confusion matrix", elem_id=f"confusion-{i}")
                        for i, name in enumerate(names)
                    ]
                per_class_plot = gr.Plot(label="Per-class accuracy", elem_id="per-class")
                tsne_plot = gr.Plot(label="t-SNE: raw, CSPA and CSEA features", elem_id="tsne")
                ablations = gr.Dataframe(headers=list(RUNS_TABLE_HEADERS), label="Runs (Table V analogue)")

        run.click(
            app.localize,
            inputs=video,
            outputs=[
                summary,
                timeline,
                *heatmaps,
                *captions,
                *overlay_videos,
                *tables,
                tags,
                placement,
                span_start,
                span_end,
            ],
            api_name="localize",
            concurrency_limit=app.config.analysis_workers,  # long clips take turns inside (App._turn)
        )
        make_videos.click(
            app.overlay_videos,
            inputs=video,
            outputs=overlay_videos,
            api_name="overlay_videos",
            concurrency_limit=app.config.analysis_workers,
        )
        match.click(
            app.cross_modal,
            inputs=[direction, span_start, span_end],
            outputs=[match_text, *match_plots],
            api_name="cross_modal",
        )
        explore.click(
            app.explore,
            inputs=[data_dir, split],
            outputs=[explore_text, *confusion_plots, per_class_plot, tsne_plot, ablations],
            api_name="explore",
        )
        demo.unload(app.end_session)
    return demo
