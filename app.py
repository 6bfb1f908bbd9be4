"""avel's Gradio app: layout, event wiring and the server's resource bounds.

The work is done by avel.analyze (one clip), avel.explore (a dataset), avel.presenter (what each
tab shows) and viz (figures).

    python app.py        # http://127.0.0.1:7860; GRADIO_SERVER_PORT / GRADIO_SERVER_NAME override

Every setting and cap is in AppConfig; AVEL_APP_<FIELD> environment variables override the
numeric ones (e.g. AVEL_APP_MAX_SESSIONS=8). Uploads, caches and rendered outputs live in one
work folder whose parts are capped and which is removed at exit, on SIGTERM and on SIGINT.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import gradio as gr

import viz
from avel.analyze import (
    Analyzer,
    CrossModalState,
    ModelPaths,
    Progress,
    load_ground_truths,
    match_cross_modal,
)
from avel.bounded import BoundedStore
from avel.config import LocalizeConfig, SummaryConfig
from avel.device import resolve_device
from avel.explore import (
    RUNS_TABLE_HEADERS,
    build_maps,
    cache_key,
    load_summary,
    runs_table,
    summarize_dataset,
)
from avel.features import file_sha256
from avel.files import evict_oldest
from avel.long_clip import analyze_long
from avel.media import MediaError, clip_seconds
from avel.presenter import (
    ClipPlacement,
    ClipView,
    DatasetView,
    known_classes_text,
    make_overlay_videos,
    render_clip,
    render_dataset,
    render_long_clip,
)

log = logging.getLogger("avel.app")
ROOT = Path(__file__).resolve().parent
CHECKPOINTS = ROOT / "checkpoints"
MB = 2**20


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
    summary: Path = CHECKPOINTS / "test-summary.npz"  # the dataset tab's default (`python -m avel summarize`)
    data_roots: tuple[Path, ...] = (ROOT / "data",)  # the only folders the dataset tab may read
    runs: Path = ROOT / "runs"  # training runs whose checkpoints fill the ablation table
    max_upload_mb: int = 200  # larger uploads are refused before any decoding
    max_clip_seconds: int = 600  # longer clips are refused: `python -m avel localize` (any length)
    normal_clip_seconds: int = 60  # longer clips are localized in windows (avel.long_clip), with less shown
    long_heatmap_seconds: int = 10  # a long clip's heatmaps: each model's most eventful seconds
    timeline_seconds: int = 60  # a long clip's timeline opens on its first minute (a range slider zooms)
    # the long-clip path's windows (the localize defaults), decoded 20 s at a time: a progress step each
    localize: LocalizeConfig = field(default_factory=lambda: LocalizeConfig(decode_window=20))
    overlay_fps: int = 2  # frame rate of the attention overlay videos (one picture per second anyway)
    heatmap_columns: int = 5  # seconds per row of each model's heatmap grid (10 s: 5 x 2)
    device: str = "auto"
    queue_size: int = 16
    # ---- resource caps: a server that runs for days stays within these -------------------------
    max_sessions: int = 64  # sessions whose cross-modal state is kept (least recently used dropped)
    session_ttl_s: int = 3600  # a session idle this long is forgotten (API clients never "close")
    render_cache_entries: int = 32  # clips whose rendered views are kept for an instant repeat
    outputs_mb: int = 512  # rendered views on disk (heatmaps, overlay videos, placement images)
    feature_cache_mb: int = 256  # cached clip features on disk
    uploads_mb: int = 1024  # Gradio's copies of uploads and served files (oldest deleted first)
    dataset_cache_entries: int = 4  # dataset analyses kept (figures of a few folders)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AppConfig:
        """Defaults, with AVEL_APP_<FIELD> overriding each int field (tests and deployments set caps)."""
        environ = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            value = environ.get(f"AVEL_APP_{f.name.upper()}")
            if value is not None and f.type in ("int", int):
                changes[f.name] = int(value)
        return replace(cls(), **changes)


def public_message(error: Exception, upload: str | Path | None, hidden: list[Path]) -> str:
    """An error's text with the server's paths removed: the upload is named by its own file name.

    Gradio stores an upload as <temp>/<hash>/<original name>, so the last part is what the user
    uploaded; any other path under `hidden` (the work folder, the temp folder) is dropped.
    """
    text = str(error)
    if upload is not None:
        text = text.replace(str(upload), Path(upload).name)
    for folder in hidden:
        text = text.replace(str(folder), "<server>")
    return text


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


class App:
    """The state the event handlers share: models, bounded caches, the work folder."""

    def __init__(self, config: AppConfig, analyzer: Analyzer, work_dir: Path) -> None:
        self.config = config
        self.analyzer = analyzer
        self.work_dir = work_dir
        self.outputs_dir = work_dir / "outputs"
        self.uploads_dir = work_dir / "gradio"
        self.ground_truths = load_ground_truths(config.assets)
        self.summary_config = SummaryConfig()
        self.summary = load_summary(config.summary) if config.summary.is_file() else None
        self.placement = (
            ClipPlacement(self.summary, self.summary_config)
            if self.summary is not None and self.summary.maps
            else None
        )
        self.sessions: BoundedStore[CrossModalState] = BoundedStore(config.max_sessions, config.session_ttl_s)
        self.views: BoundedStore[ClipView] = BoundedStore(
            config.render_cache_entries,
            config.session_ttl_s,
            on_evict=lambda key, view: shutil.rmtree(view.folder, ignore_errors=True),
        )
        self.datasets: BoundedStore[DatasetView] = BoundedStore(
            config.dataset_cache_entries, config.session_ttl_s
        )
        calibrations = {name: m.calibration for name, m in analyzer.localizers.items()}
        self.known_classes = known_classes_text(analyzer.trained_events, calibrations)

    def _hide(self) -> list[Path]:
        return [self.work_dir, Path(tempfile.gettempdir()), ROOT]

    # ---- tab 1: localize a clip -------------------------------------------------------------
    def localize(
        self,
        video: str | None,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        """Analyse an upload with every model; raise gr.Error with a clear message on bad input."""
        view = self._view(video, lambda f, msg: progress(f, desc=msg))
        self.sessions.put(_session(request), view.state)
        start, end = view.span
        videos = view.overlay_videos or [None] * len(view.heatmaps)  # a new clip clears old videos
        sliders = (
            (gr.update(), gr.update())  # a long clip has no cross-modal matching
            if view.windowed
            else (
                gr.update(maximum=view.state.num_segments - 1, value=start),
                gr.update(maximum=view.state.num_segments, value=end),
            )
        )
        return (
            view.summary,
            view.timeline,
            *view.heatmaps,
            *view.captions,
            *videos,
            *view.tables,
            view.tags,
            view.placement,
            *sliders,
        )

    def overlay_videos(
        self,
        video: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        """The attention overlay videos of the clip, on demand: they cost more than the whole analysis."""
        view = self._view(video, lambda f, msg: progress(f, desc=msg))
        if view.windowed:
            raise gr.Error(
                f"Overlay videos are made for clips up to {self.config.normal_clip_seconds} s; this one "
                f"lasts {view.state.num_segments} s (its most eventful seconds are shown as heatmaps)."
            )
        progress(0.5, desc="encoding the overlay videos")
        videos = make_overlay_videos(view, self.config.overlay_fps)
        self._prune_disk(keep=view.folder)
        return tuple(videos)

    def warm_up(self) -> None:
        """Analyse the first example once before serving: the first user's clip skips lazy set-up."""
        examples = sorted(self.config.assets.glob("*.mp4"))
        if not examples:
            return
        started = time.perf_counter()
        try:
            self._view(str(examples[0]), None)
        except gr.Error as err:  # a broken example must not keep the app from serving uploads
            log.warning("warm-up on %s failed: %s", examples[0].name, err)
            return
        log.info("warm-up on %s: %.1f s", examples[0].name, time.perf_counter() - started)

    def _view(self, video: str | None, progress: Progress | None) -> ClipView:
        """The rendered views of an upload: from the render cache, else analysed and drawn now."""
        if not video:
            raise gr.Error("Upload a video (or pick an example) first.")
        name = Path(video).name
        size_mb = Path(video).stat().st_size / MB
        if size_mb > self.config.max_upload_mb:
            raise gr.Error(
                f"{name}: the upload is {size_mb:.0f} MB; the limit is {self.config.max_upload_mb} MB."
            )
        key = self._view_key(video)
        view = self.views.get(key)
        if view is None or not view.folder.is_dir():
            view = self._analyse(video, key, progress)
        return view

    def _view_key(self, video: str) -> str:
        """The rendered views' identity: the file's bytes (whatever its name) and the app's settings."""
        settings = (
            f"{file_sha256(video)}|{self.config.overlay_fps}|{self.config.heatmap_columns}|"
            f"{sorted(self.config.models.localizers.items())}"
        )
        return hashlib.sha256(settings.encode()).hexdigest()[:32]

    def _analyse(self, video: str, key: str, progress: Progress | None) -> ClipView:
        try:
            seconds = self._check_length(video)
            if seconds is not None and seconds > self.config.normal_clip_seconds:
                view = self._analyse_long(video, key, progress)
            else:
                view = self._analyse_normal(video, key, progress)
        except (MediaError, ValueError) as err:
            log.warning("analysis of %s failed: %s", video, err)
            raise gr.Error(public_message(err, video, self._hide())) from err
        self.views.put(key, view)
        self._prune_disk(keep=view.folder)
        return view

    def _analyse_normal(self, video: str, key: str, progress: Progress | None) -> ClipView:
        """A clip up to the normal length: decoded whole, every view drawn."""
        analysis = self.analyzer.analyze(video, progress=progress)
        analysis.ground_truth = self.ground_truths.get(analysis.clip.content_hash)
        self._warn(video, analysis.warnings)
        if progress:
            progress(0.97, "drawing")
        return render_clip(analysis, self.outputs_dir / key, self.config.heatmap_columns, self.placement)

    def _analyse_long(self, video: str, key: str, progress: Progress | None) -> ClipView:
        """A longer clip: decoded and localized window by window, with progress per decode window."""
        config = replace(self.config.localize, max_seconds=self.config.max_clip_seconds)
        analysis = analyze_long(self.analyzer, video, config, self.config.long_heatmap_seconds, progress)
        self._warn(video, analysis.warnings)
        if progress:
            progress(0.97, "drawing")
        return render_long_clip(
            analysis,
            self.outputs_dir / key,
            self.config.heatmap_columns,
            self.config.timeline_seconds,
            self.config.normal_clip_seconds,
        )

    def _warn(self, video: str, warnings: list[str]) -> None:
        for warning in warnings:
            gr.Warning(f"{Path(video).name}: {public_message(Exception(warning), video, self._hide())}")

    def _check_length(self, video: str) -> int | None:
        """The clip's whole seconds from its header (None without one); a clip over the app's limit
        is refused, with the way to analyse it, before any decoding."""
        try:
            seconds = clip_seconds(video)
        except MediaError:
            return None  # no duration header: decoding finds the length (and its own limit) itself
        limit = self.config.max_clip_seconds
        if seconds > limit:
            raise MediaError(
                f"{Path(video).name} lasts {seconds} s; this app analyses clips up to {limit} s "
                f"(AppConfig.max_clip_seconds). Any length: `python -m avel localize {Path(video).name}`."
            )
        return seconds

    def _prune_disk(self, keep: Path) -> None:
        """Hold the outputs and Gradio's upload folder under their caps, oldest entries first."""
        evict_oldest(self.outputs_dir, self.config.outputs_mb * MB, keep=keep)
        if self.uploads_dir.is_dir():
            evict_oldest(self.uploads_dir, self.config.uploads_mb * MB)

    def end_session(self, request: gr.Request) -> None:
        """A browser tab closed: forget its state now rather than at the TTL."""
        self.sessions.pop(_session(request))

    # ---- tab 2: cross-modal localization ------------------------------------------------------
    def cross_modal(self, direction: str, start: int, end: int, request: gr.Request | None = None) -> tuple:
        """Slide the chosen span of one modality over the other with each CML model."""
        state = self.sessions.get(_session(request))
        if state is None:
            raise gr.Error(
                "Analyse a clip in the first tab first (a session is forgotten after an idle hour)."
            )
        if state.num_segments > self.config.normal_clip_seconds:
            raise gr.Error(
                f"Cross-modal localization takes clips up to {self.config.normal_clip_seconds} s; the clip "
                f"analysed in the first tab lasts {state.num_segments} s."
            )
        if not state.distances:
            raise gr.Error("No cross-modal (CML) checkpoint is loaded.")
        try:
            matched = match_cross_modal(state, direction, int(start), int(end))
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
        """The bundled summary (empty box), or a folder under the data roots computed live."""
        if not (data_dir or "").strip():
            if self.summary is None:
                raise gr.Error(
                    f"No bundled summary ({self.config.summary.name}); enter a folder under "
                    f"{self._roots_text()} or build one with `python -m avel summarize`."
                )
            view = self.datasets.get("bundled")
            if view is None:
                view = render_dataset(self.summary)
                self.datasets.put("bundled", view)
            return self._dataset_outputs(view)
        data_path = self._allowed_folder(data_dir)
        key = cache_key(data_path, split, list(self.config.models.localizers.values()))
        view = self.datasets.get(key)
        if view is None:
            progress(0.1, desc="running the models over the split")
            try:
                summary = summarize_dataset(self.analyzer.localizers, data_path, split)
                progress(0.5, desc="t-SNE of the features")
                summary.source = f"{data_dir.strip()}, {split} split"
                view = render_dataset(build_maps(summary, self.summary_config))
            except (ValueError, FileNotFoundError) as err:
                raise gr.Error(public_message(err, None, self._hide())) from err
            self.datasets.put(key, view)
        return self._dataset_outputs(view)

    def _roots_text(self) -> str:
        return ", ".join(
            f"{root.relative_to(ROOT) if root.is_relative_to(ROOT) else root}/"
            for root in self.config.data_roots
        )

    def _allowed_folder(self, data_dir: str) -> Path:
        """The folder, if it lies under a configured data root; else a refusal that reveals nothing."""
        given = Path(data_dir.strip()).expanduser()
        resolved = (given if given.is_absolute() else ROOT / given).resolve()
        roots = [root.resolve() for root in self.config.data_roots]
        if not any(resolved.is_relative_to(root) for root in roots):
            raise gr.Error(
                f"Only dataset folders under {self._roots_text()} can be analysed (AppConfig.data_roots); "
                "leave the box empty for the bundled summary."
            )
        if not resolved.is_dir():
            raise gr.Error(f"No dataset folder {data_dir.strip()!r} under {self._roots_text()}.")
        return resolved

    def _dataset_outputs(self, view: DatasetView) -> tuple:
        return (view.text, *view.confusions, view.per_class, view.tsne, runs_table(self.config.runs))


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
        )
        make_videos.click(app.overlay_videos, inputs=video, outputs=overlay_videos, api_name="overlay_videos")
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


def make_work_dir() -> Path:
    """One temporary folder for uploads, caches and outputs, removed at exit."""
    work_dir = Path(tempfile.mkdtemp(prefix="avel-app-"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    return work_dir


def clean_up_on_signals(work_dir: Path) -> None:
    """SIGTERM and SIGINT exit through the atexit cleanup (SIGTERM's default action skips it)."""

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: removing %s and stopping", signum, work_dir)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def load_app(config: AppConfig, work_dir: Path) -> App:
    """The models, backbones and bundled summary, checked; SystemExit with the reason otherwise."""
    paths = [*config.models.localizers.values(), *config.models.matchers.values()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing checkpoints: {', '.join(missing)} (see checkpoints/README.md)")
    try:
        analyzer = Analyzer(
            config.models,
            max_seconds=config.normal_clip_seconds,
            cache_dir=work_dir / "features",
            device=str(resolve_device(config.device)),
            cache_max_bytes=config.feature_cache_mb * MB,
        )
        analyzer.extractor.load()  # the backbones now, not on the first user's clip
        app = App(config, analyzer, work_dir)
        app.warm_up()
        return app
    except ValueError as err:  # a checkpoint of the wrong shape, with NaNs, or a broken summary
        raise SystemExit(f"avel app: cannot start: {err}") from err


def main(config: AppConfig | None = None) -> None:
    """Load the models once, then serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config or AppConfig.from_env()
    work_dir = make_work_dir()
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work_dir / "gradio"))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo(load_app(config, work_dir))
    clean_up_on_signals(work_dir)
    demo.queue(max_size=config.queue_size).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=f"{config.max_upload_mb}mb",
    )


if __name__ == "__main__":
    main()
