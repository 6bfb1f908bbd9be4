"""avel's Gradio app: layout and event wiring only.

The work is done by avel.analyze (one clip), avel.explore (a dataset) and viz (figures).

    python app.py        # http://127.0.0.1:7860; GRADIO_SERVER_PORT / GRADIO_SERVER_NAME override

Uploads and generated files live in one temporary folder that Gradio prunes hourly and that is
removed when the app exits; the app serves nothing else from the machine.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

import viz
from avel.analyze import (
    Analyzer,
    ClipAnalysis,
    ModelPaths,
    event_bounds,
    load_ground_truths,
    match_cross_modal,
)
from avel.device import resolve_device
from avel.explore import (
    RUNS_TABLE_HEADERS,
    TSNE_FEATURES,
    DatasetSummary,
    cache_key,
    runs_table,
    summarize_dataset,
)
from avel.media import MediaError, write_clip

log = logging.getLogger("avel.app")
ROOT = Path(__file__).resolve().parent
CHECKPOINTS = ROOT / "checkpoints"


@dataclass(frozen=True)
class AppConfig:
    """Everything the app reads or limits, in one place."""

    models: ModelPaths = field(
        default_factory=lambda: ModelPaths(
            localizers={
                "Co-attention": CHECKPOINTS / "coatt_sel.pt",
                "Baseline": CHECKPOINTS / "baseline_sel.pt",
            },
            matchers={
                "Co-attention": CHECKPOINTS / "coatt_cml.pt",
                "Baseline": CHECKPOINTS / "baseline_cml.pt",
            },
        )
    )
    assets: Path = ROOT / "assets"  # example clips + ground-truth sidecars
    default_data: Path = ROOT / "data" / "composite-full"  # `python -m avel bench build --preset full`
    runs: Path = ROOT / "runs"  # training runs whose checkpoints fill the ablation table
    max_upload_mb: int = 200  # larger uploads are refused before any decoding
    overlay_fps: int = 8  # frame rate of the attention overlay video
    tsne_max_points: int = 1500  # segments per t-SNE panel (subsampled, count shown)
    device: str = "auto"
    queue_size: int = 16


class App:
    """The state the event handlers share: models, ground truths, caches, the work folder."""

    def __init__(self, config: AppConfig, analyzer: Analyzer, work_dir: Path) -> None:
        self.config = config
        self.analyzer = analyzer
        self.work_dir = work_dir
        self.ground_truths = load_ground_truths(config.assets)
        self.dataset_cache: dict[str, tuple] = {}

    # ---- tab 1: localize a clip -------------------------------------------------------------
    def localize(self, video: str | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """Analyse an upload with every model; raise gr.Error with a clear message on bad input."""
        if not video:
            raise gr.Error("Upload a video (or pick an example) first.")
        size_mb = Path(video).stat().st_size / 2**20
        if size_mb > self.config.max_upload_mb:
            raise gr.Error(f"The upload is {size_mb:.0f} MB; the limit is {self.config.max_upload_mb} MB.")
        try:
            analysis = self.analyzer.analyze(video, progress=lambda f, msg: progress(f, desc=msg))
        except (MediaError, ValueError) as err:
            raise gr.Error(str(err)) from err
        analysis.ground_truth = self.ground_truths.get(analysis.clip.content_hash)
        for warning in analysis.warnings:
            gr.Warning(warning)
        return (*self._localize_outputs(analysis), analysis, *self._span_controls(analysis))

    def _localize_outputs(self, analysis: ClipAnalysis) -> tuple:
        classes, background = analysis.classes, analysis.background_index
        probabilities = {name: loc.probabilities for name, loc in analysis.localizations.items()}
        timeline = viz.event_timeline(probabilities, classes, analysis.ground_truth, background)
        lines = [
            f"**{name}:** {viz.summarize_events(loc.predicted, classes, background)}"
            for name, loc in analysis.localizations.items()
        ]
        if analysis.ground_truth is not None:
            lines.append(
                f"**Ground truth:** {viz.summarize_events(analysis.ground_truth, classes, background)}"
            )
        galleries, videos, tables = [], [], []
        for name, loc in analysis.localizations.items():
            captions = [classes[c] for c in loc.predicted]
            if loc.spatial_attention is None:
                galleries.append([])
                videos.append(None)
            else:
                overlays = viz.attention_overlays(analysis.clip.frames, loc.spatial_attention, captions)
                galleries.append(overlays)
                videos.append(self._overlay_video(analysis, [image for image, _ in overlays], name))
            tables.append(viz.top_k_table(loc.probabilities, classes))
        return ("\n\n".join(lines), timeline, *galleries, *videos, *tables)

    def _overlay_video(self, analysis: ClipAnalysis, overlays: list[np.ndarray], name: str) -> str:
        """The per-second overlays as a video with the clip's own audio."""
        fps = self.config.overlay_fps
        frames = np.repeat(np.stack(overlays), fps, axis=0)  # (T, H, W, 3) -> (T * fps, H, W, 3)
        path = Path(tempfile.mkdtemp(dir=self.work_dir)) / f"{name.lower().replace(' ', '-')}-attention.mp4"
        write_clip(path, frames, fps, analysis.clip.waveform, analysis.clip.sample_rate)
        return str(path)

    def _span_controls(self, analysis: ClipAnalysis) -> tuple:
        """Cross-modal sliders sized to the clip, starting at the true (else predicted) event span."""
        num_segments = analysis.clip.num_segments
        labels = analysis.ground_truth
        if labels is None:
            labels = next(iter(analysis.localizations.values())).predicted if analysis.localizations else None
        span = None if labels is None else event_bounds(labels, analysis.background_index)
        start, end = span if span is not None else (0, num_segments)
        return (
            gr.update(maximum=num_segments - 1, value=start),
            gr.update(maximum=num_segments, value=end),
        )

    # ---- tab 2: cross-modal localization ------------------------------------------------------
    def cross_modal(self, analysis: ClipAnalysis | None, direction: str, start: int, end: int) -> tuple:
        """Slide the chosen span of one modality over the other with each CML model."""
        if analysis is None:
            raise gr.Error("Analyse a clip in the first tab first.")
        if not analysis.distances:
            raise gr.Error("No cross-modal (CML) checkpoint is loaded.")
        try:
            matched = match_cross_modal(analysis, direction, int(start), int(end))
        except ValueError as err:
            raise gr.Error(str(err)) from err
        start, end = matched.span
        figures, lines = [], []
        for name, result in matched.results.items():
            figures.append(
                viz.cml_distance_figure(
                    result.window_distances,
                    result.best_start,
                    matched.true_start,
                    matched.span,
                    matched.direction,
                )
            )
            found = f"{result.best_start}-{result.best_start + end - start} s"
            verdict = {None: "", True: " (correct)", False: " (wrong)"}[result.correct]
            lines.append(f"**{name}:** best match at seconds {found}{verdict}")
        if matched.truth_span is None:
            lines.append("Ground truth unknown for this clip.")
        elif matched.true_start is None:
            truth_start, truth_end = matched.truth_span
            lines.append(
                f"The true event span is seconds {truth_start}-{truth_end}; pick it to score the match."
            )
        return ("\n\n".join(lines), *figures)

    # ---- tab 3: dataset analysis --------------------------------------------------------------
    def explore(self, data_dir: str, split: str, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """Confusion matrices, per-class accuracy and t-SNE of a dataset split, cached per input."""
        data_path = Path(data_dir).expanduser()
        if not data_path.is_dir():
            raise gr.Error(f"No dataset folder at {data_path}. Build one with `python -m avel bench build`.")
        key = cache_key(data_path, split, list(self.config.models.localizers.values()))
        if key not in self.dataset_cache:
            progress(0.1, desc="running the models over the split")
            try:
                summary = summarize_dataset(self.analyzer.localizers, data_path, split)
            except (ValueError, FileNotFoundError) as err:
                raise gr.Error(str(err)) from err
            progress(0.5, desc="t-SNE of the features")
            self.dataset_cache[key] = self._dataset_figures(summary)
        return (*self.dataset_cache[key], runs_table(self.config.runs))

    def _dataset_figures(self, summary: DatasetSummary) -> tuple:
        classes = summary.classes
        confusions = [
            viz.confusion_matrix_figure(
                model.confusion, classes, title=f"{name}: confusion ({summary.split})"
            )
            for name, model in summary.models.items()
        ]
        per_class = viz.per_class_accuracy_figure(
            {name: model.per_class for name, model in summary.models.items()},
            classes,
            counts=np.bincount(summary.labels.ravel(), minlength=len(classes)),
        )
        first_name, first = next(iter(summary.models.items()))
        labels = summary.labels.ravel()
        kept = viz.stratified_subsample(labels, self.config.tsne_max_points)
        panels = {}
        for feature in TSNE_FEATURES:
            if feature in first.features:
                coords, _ = viz.tsne_embedding(first.features[feature][kept])
                panels[feature.replace("_", " ")] = (coords, labels[kept])
        tsne = viz.tsne_figure(panels, classes)
        note = f"t-SNE of {first_name}'s features: {len(kept)} of {labels.size} segments (stratified sample)."
        accuracy = " · ".join(f"**{name}:** {100 * m.accuracy:.1f}%" for name, m in summary.models.items())
        return (f"Segment accuracy ({summary.split}): {accuracy}\n\n{note}", *confusions, per_class, tsne)


def build_demo(app: App) -> gr.Blocks:
    """The three tabs; component elem_ids are stable so browser tests can find them."""
    names = list(app.analyzer.localizers)
    matchers = list(app.analyzer.matchers)
    examples = sorted(str(p) for p in app.config.assets.glob("*.mp4"))
    with gr.Blocks(title="avel: audio-visual event localization", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# avel: audio-visual event localization\n"
            "When is an event in a video both **audible and visible**, what is it, and **where** is it? "
            "The co-attention model (Xue et al., IEEE TMM) beside the AVE baseline (Tian et al., ECCV 2018)."
        )
        analysis_state = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Localize a clip"):
                with gr.Row():
                    with gr.Column(scale=1):
                        video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                        run = gr.Button("Localize events", variant="primary", elem_id="localize-button")
                        if examples:
                            gr.Examples(
                                examples=examples, inputs=video, label="Examples (composite benchmark)"
                            )
                    with gr.Column(scale=2):
                        summary = gr.Markdown(elem_id="summary")
                        timeline = gr.Plot(label="Per-second events", elem_id="timeline")
                galleries = [
                    gr.Gallery(
                        label=f"{name}: spatial attention", columns=5, height="auto", elem_id=f"gallery-{i}"
                    )
                    for i, name in enumerate(names)
                ]
                with gr.Row():
                    overlay_videos = [
                        gr.Video(
                            label=f"{name}: attention overlay", interactive=False, elem_id=f"overlay-{i}"
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
            with gr.Tab("Cross-modal localization"):
                gr.Markdown(
                    "Pick a span in one modality; each CML model slides it over the other modality and "
                    "the window with the smallest summed distance is its answer (A2V: audio query, find the "
                    "visual span; V2A: the reverse)."
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
                        str(app.config.default_data), label="Dataset folder (AVE layout)", scale=3
                    )
                    split = gr.Dropdown(["test", "val", "train"], value="test", label="Split", scale=1)
                explore = gr.Button("Analyse dataset", variant="primary", elem_id="explore-button")
                explore_text = gr.Markdown()
                with gr.Row():
                    confusion_plots = [gr.Plot(label=f"{name}: confusion matrix") for name in names]
                per_class_plot = gr.Plot(label="Per-class accuracy")
                tsne_plot = gr.Plot(label="t-SNE: raw, CSPA and CSEA features")
                ablations = gr.Dataframe(
                    headers=list(RUNS_TABLE_HEADERS),
                    label="Runs (Table V analogue)",
                )

        run.click(
            app.localize,
            inputs=video,
            outputs=[
                summary,
                timeline,
                *galleries,
                *overlay_videos,
                *tables,
                analysis_state,
                span_start,
                span_end,
            ],
            api_name="localize",
        )
        match.click(
            app.cross_modal,
            inputs=[analysis_state, direction, span_start, span_end],
            outputs=[match_text, *match_plots],
            api_name="cross_modal",
        )
        explore.click(
            app.explore,
            inputs=[data_dir, split],
            outputs=[explore_text, *confusion_plots, per_class_plot, tsne_plot, ablations],
            api_name="explore",
        )
    return demo


def make_work_dir() -> Path:
    """One temporary folder for uploads and outputs, removed at exit."""
    work_dir = Path(tempfile.mkdtemp(prefix="avel-app-"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    return work_dir


def main(config: AppConfig | None = None) -> None:
    """Load the models once, then serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config or AppConfig()
    work_dir = make_work_dir()
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work_dir / "gradio"))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    missing = [
        str(p)
        for p in [*config.models.localizers.values(), *config.models.matchers.values()]
        if not p.is_file()
    ]
    if missing:
        raise SystemExit(f"missing checkpoints: {', '.join(missing)} (see checkpoints/README.md)")
    device = str(resolve_device(config.device))
    analyzer = Analyzer(config.models, cache_dir=work_dir / "features", device=device)
    demo = build_demo(App(config, analyzer, work_dir))
    demo.queue(max_size=config.queue_size).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=f"{config.max_upload_mb}mb",
    )


if __name__ == "__main__":
    main()
