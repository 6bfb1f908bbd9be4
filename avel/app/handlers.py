"""The app's event handlers and the state they share: models, bounded caches, the work folder.

Each handler takes what a tab's inputs give and returns that tab's outputs in the order its
layout names them (avel/app/layout.py); the analysis is avel.analysis, the drawing avel.app.views.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

import viz
from avel.analysis.clip import Analyzer, ClipTooLong, Progress, analyze_clip, load_ground_truths
from avel.analysis.crossmodal import CrossModalState, match_cross_modal
from avel.analysis.dataset import cache_key, summarize_dataset
from avel.analysis.summary import build_maps, load_summary
from avel.app.config import MB, ROOT, AppConfig
from avel.app.errors import public_message
from avel.app.outputs import CrossModalOutputs, DatasetOutputs, LocalizeOutputs
from avel.app.views import (
    ClipPlacement,
    ClipView,
    DatasetView,
    ViewSettings,
    clip_summary,
    clip_timeline,
    known_classes_text,
    make_overlay_videos,
    render_clip,
    render_dataset,
    second_tiles,
    write_downloads,
)
from avel.bench.boxes import read_object_boxes
from avel.common.bounded import BoundedStore
from avel.common.config import SummaryConfig
from avel.common.files import evict_oldest
from avel.features.extractor import file_sha256
from avel.features.media import MediaError, clip_seconds, probe
from avel.training.runs import checkpoint_rows, runs_table

log = logging.getLogger("avel.app")
NO_EVENT_CHOICE = "(no event given)"  # the "score your own clip" class box when left alone
UPLOAD_TRUTH = "Your ground truth"


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
        self.known_classes = known_classes_text(
            analyzer.trained_events,
            calibrations,
            {name: m.real_footage for name, m in analyzer.localizers.items()},
        )
        self.localize_config = replace(
            config.localize,
            max_seconds=config.max_clip_seconds,
            whole_clip_seconds=config.normal_clip_seconds,
            heatmap_seconds=config.long_heatmap_seconds,
        )
        self.view_settings = ViewSettings(config.heatmap_columns, config.timeline_seconds)
        self.long_slots = threading.BoundedSemaphore(config.long_analyses)
        self.long_waiting = 0  # long clips waiting for a slot (shown to each of them)
        self.short_running = 0  # short analyses now: a long one pauses between its steps meanwhile
        self._turns = threading.Condition()

    def _hide(self) -> list[Path]:
        return [self.work_dir, Path(tempfile.gettempdir()), ROOT]

    # ---- tab 1: localize a clip -------------------------------------------------------------
    def localize(
        self,
        video: str | None,
        event: str | None = NO_EVENT_CHOICE,
        event_start: float | None = 0,
        event_end: float | None = 0,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> list:
        """Analyse an upload with every model; raise gr.Error with a clear message on bad input.

        `event` in [event_start, event_end) s is the user's truth for the clip ("score your own
        clip"): the page then shows it as a row and both models' per-second accuracy against it.
        """
        view = self._view(video, lambda f, msg: progress(f, desc=msg))
        truth = self._user_truth(view, event, event_start, event_end)
        summary, timeline, state = view.summary, view.timeline, view.state
        if truth is not None:
            summary = clip_summary(view.analysis, truth, UPLOAD_TRUTH)
            timeline = clip_timeline(view.analysis, truth, self.config.timeline_seconds)
            state = replace(state, ground_truth=truth)
        self.sessions.put(_session(request), state)
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
        return LocalizeOutputs(
            summary=summary,
            timeline=timeline,
            heatmaps=view.heatmaps,
            captions=view.captions,
            overlay_videos=videos,
            tables=view.tables,
            tags=view.tags,
            placement=view.placement,
            downloads=None,
            second_image=None,
            second_text="",
            span_start=sliders[0],
            span_end=sliders[1],
        ).flat()

    def _user_truth(
        self, view: ClipView, event: str | None, start: float | None, end: float | None
    ) -> np.ndarray | None:
        """(T,) labels from the "score your own clip" boxes, or None (nothing given, or a warning)."""
        if not event or event == NO_EVENT_CHOICE:
            return None
        seconds, classes = view.state.num_segments, view.analysis.classes
        first, last = int(start or 0), int(end or 0)
        if not 0 <= first < last <= seconds:
            gr.Warning(
                f"Your event {event} from {first} to {last} s was not scored: it needs 0 <= start < end <= "
                f"{seconds} (the clip lasts {seconds} s)."
            )
            return None
        truth = np.full(seconds, view.analysis.background_index, dtype=np.int64)
        truth[first:last] = classes.index(event)
        return truth

    def downloads(
        self,
        video: str | None,
        event: str | None = NO_EVENT_CHOICE,
        event_start: float = 0,
        event_end: float = 0,
    ) -> list[str]:
        """The clip's per-second results (JSON, CSV), heatmap grids (PNG) and timeline (SVG)."""
        view = self._view(video, None)
        truth = self._user_truth(view, event, event_start, event_end)
        return write_downloads(view, Path(video).name, view.analysis.ground_truth if truth is None else truth)

    def second(self, video: str | None, second: str) -> tuple:
        """The heatmaps and answers of one second, picked by a click on the timeline.

        The page's script sends "SECOND@CLICK" (the click count makes a second click on the same
        second a change too).
        """
        try:
            t = int((second or "").split("@")[0])
        except ValueError:
            return None, ""
        if not video:
            return None, ""
        return second_tiles(self._view(video, None), t)

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
        try:
            videos = make_overlay_videos(
                view, video, self.config.overlay_max_height, self.config.overlay_max_fps
            )
        except (MediaError, ValueError) as err:
            raise gr.Error(public_message(err, video, self._hide())) from err
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
        if not Path(video).is_file():  # gone: the upload cap evicted it (the oldest uploads go first)
            why = "not a regular file" if Path(video).exists() else "no such file on the server any more"
            raise gr.Error(f"{name}: {why} (uploads are kept within a cap); upload it again.")
        size_mb = Path(video).stat().st_size / MB
        if size_mb > self.config.max_upload_mb:
            raise gr.Error(
                f"{name}: the upload is {size_mb:.0f} MB; the limit is {self.config.max_upload_mb} MB."
            )
        content_hash = file_sha256(video)  # the one pass over the bytes: the cache key and the analysis
        key = self._view_key(content_hash)
        view = self.views.get(key)
        if view is None or not view.folder.is_dir():
            view = self._analyse(video, key, content_hash, progress)
        for warning in view.warnings:  # on every repeat too: a cached answer has the same caveats
            gr.Warning(f"{name}: {warning}")
        return view

    def _view_key(self, content_hash: str) -> str:
        """The rendered views' identity: the file's bytes (whatever its name) and the app's settings."""
        settings = (
            f"{content_hash}|{self.config.overlay_max_height}|{self.config.overlay_max_fps}|"
            f"{self.config.heatmap_columns}|"
            f"{sorted(self.config.models.localizers.items())}"
        )
        return hashlib.sha256(settings.encode()).hexdigest()[:32]

    def _analyse(self, video: str, key: str, content_hash: str, progress: Progress | None) -> ClipView:
        """Any length, one road (avel.analysis.clip.analyze_clip); a clip over the app's limit is
        refused from its header, with the way to analyse it, before any decoding."""
        try:
            with self._turn(video, progress) as steps:
                analysis = analyze_clip(
                    self.analyzer, video, self.localize_config, steps, content_hash=content_hash
                )
        except ClipTooLong as err:
            name = Path(video).name
            raise gr.Error(
                f"{name} lasts {err.seconds} s; this app analyses clips up to {err.limit} s "
                f"(AppConfig.max_clip_seconds). Any length: `python -m avel localize {name}`."
            ) from err
        except (MediaError, ValueError) as err:
            log.warning("analysis of %s failed: %s", video, err)
            raise gr.Error(public_message(err, video, self._hide())) from err
        known = self.ground_truths.get(content_hash)  # an example: its labels and object boxes
        if known is not None:
            known.apply_to(analysis)
        analysis.warnings = [public_message(Exception(w), video, self._hide()) for w in analysis.warnings]
        if progress:
            progress(0.97, "drawing")
        info = probe(video)  # the displayed width and height: heatmap tiles in the clip's shape
        aspect = info["width"] / info["height"] if info["width"] and info["height"] else 1.0
        view = render_clip(analysis, self.outputs_dir / key, self.view_settings, self.placement, aspect)
        self.views.put(key, view)
        self._prune_disk(keep=view.folder)
        return view

    @contextmanager
    def _turn(self, video: str, progress: Progress | None) -> Iterator[Progress | None]:
        """A clip's turn; yields the progress callback its analysis reports to.

        Short clips run at once, side by side (AppConfig.analysis_workers). Long clips (over
        normal_clip_seconds) take turns, `long_analyses` at a time, and at each progress step a
        long analysis pauses while a short one runs: on 2 cores a short clip would otherwise share
        the CPU with it and take several times as long.
        """
        if not self._is_long(video):
            with self._turns:
                self.short_running += 1
            try:
                yield progress
            finally:
                with self._turns:
                    self.short_running -= 1
                    self._turns.notify_all()
            return
        self._wait_for_slot(progress)
        try:
            yield self._yielding(progress)
        finally:
            self.long_slots.release()

    def _is_long(self, video: str) -> bool:
        try:
            seconds = clip_seconds(video)
        except MediaError:
            return False  # no header: decoded whole, up to normal_clip_seconds (analyze_clip)
        return self.config.normal_clip_seconds < seconds <= self.config.max_clip_seconds

    def _wait_for_slot(self, progress: Progress | None) -> None:
        if self.long_slots.acquire(blocking=False):
            return
        with self._turns:
            self.long_waiting += 1
            ahead = self.long_waiting
        if progress is not None:
            progress(
                0.0,
                f"waiting: long clips take turns ({self.config.long_analyses} at a time, "
                f"{ahead - 1} waiting before this one); short clips are not held",
            )
        self.long_slots.acquire()
        with self._turns:
            self.long_waiting -= 1

    def _yielding(self, progress: Progress | None) -> Progress:
        """`progress`, pausing the long analysis that calls it while any short clip is analysed."""

        def step(fraction: float, message: str) -> None:
            with self._turns:
                if self.short_running and progress is not None:
                    progress(fraction, "paused while a short clip is analysed")
                self._turns.wait_for(lambda: self.short_running == 0)
            if progress is not None:
                progress(fraction, message)

        return step

    def _prune_disk(self, keep: Path) -> None:
        """Hold the outputs and Gradio's upload folder under their caps, oldest entries first."""
        evict_oldest(self.outputs_dir, self.config.outputs_mb * MB, keep=keep)
        if self.uploads_dir.is_dir():
            evict_oldest(self.uploads_dir, self.config.uploads_mb * MB)

    def end_session(self, request: gr.Request) -> None:
        """A browser tab closed: forget its state now rather than at the TTL."""
        self.sessions.pop(_session(request))

    # ---- tab 2: cross-modal localization ------------------------------------------------------
    def cross_modal(self, direction: str, start: int, end: int, request: gr.Request | None = None) -> list:
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
        start, end = int(start), int(end)
        if end <= start:  # a message in place of the last results, which no longer answer the query
            return CrossModalOutputs(
                text=f"**The span is empty:** it ends at {end} s, at or before its start ({start} s). "
                "Move the end past the start and press Match.",
                plots=[None] * len(state.distances),
            ).flat()
        try:
            matched = match_cross_modal(state, direction, start, end)
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
            found = f"{viz.span_label(result.best_start, result.best_start + end - start)} s"
            verdict = {None: "", True: " (correct)", False: " (wrong)"}[result.correct]
            lines.append(f"**{name}:** best match at {found}{verdict}")
        if matched.truth_span is None:
            lines.append(
                "**Not scored:** this clip has no ground truth. The bundled examples carry theirs; for an "
                "upload, enter its event under *Score your own clip* in the first tab and localize again."
            )
        elif matched.true_start is None:
            truth = viz.span_label(*matched.truth_span)
            lines.append(f"The true event span is {truth} s; pick it to score the match.")
        return CrossModalOutputs(text="\n\n".join(lines), plots=figures).flat()

    # ---- tab 3: dataset analysis --------------------------------------------------------------
    def explore(self, data_dir: str, split: str, progress: gr.Progress = gr.Progress()) -> list:  # noqa: B008
        """The bundled summary (empty box), or a folder under the data roots computed live."""
        if not (data_dir or "").strip():
            if self.summary is None:
                raise gr.Error(
                    f"No bundled summary ({self.config.summary.name}); enter a folder under "
                    f"{self.roots_text()} or build one with `python -m avel summarize`."
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
                boxes = read_object_boxes(data_path)  # a composite benchmark: attention accuracy too
                summary = summarize_dataset(self.analyzer.localizers, data_path, split, boxes)
                progress(0.5, desc="t-SNE of the features")
                summary.source = f"{data_dir.strip()}, {split} split"
                view = render_dataset(build_maps(summary, self.summary_config))
            except (ValueError, FileNotFoundError) as err:  # the folder named as the user typed it
                named = ValueError(str(err).replace(str(data_path), data_dir.strip()))
                raise gr.Error(public_message(named, None, self._hide())) from err
            self.datasets.put(key, view)
        return self._dataset_outputs(view)

    def roots_text(self) -> str:
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
                f"Only dataset folders under {self.roots_text()} can be analysed (AppConfig.data_roots); "
                "leave the box empty for the bundled summary."
            )
        if not resolved.is_dir():
            raise gr.Error(f"No dataset folder {data_dir.strip()!r} under {self.roots_text()}.")
        return resolved

    def _dataset_outputs(self, view: DatasetView) -> list:
        return DatasetOutputs(
            text=view.text,
            confusions=view.confusions,
            per_class=view.per_class,
            attention_note=view.attention_note,
            attention=view.attention,
            tsne=view.tsne,
            **self._runs(),
        ).flat()

    def _runs(self) -> dict:
        """The training runs' test scores (Table V analogue); the bundled checkpoints' when there are none."""
        rows, runs = runs_table(self.config.runs), self.config.runs
        shown = runs.relative_to(ROOT) if runs.is_relative_to(ROOT) else runs.name
        if rows:
            note = f"Each finished training run under `{shown}/` with its test score (its `best.pt`)."
        else:
            models = self.config.models
            rows = checkpoint_rows([*models.localizers.values(), *models.matchers.values()])
            note = (
                f"No training runs under `{shown}/` yet (`python -m avel train ... --out {shown}/NAME` adds "
                "one), so the table lists the **bundled checkpoints** the app runs, with their test scores."
            )
        return {"runs_note": note, "runs": rows}
