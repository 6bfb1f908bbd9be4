"""The composite benchmark: plans, rendered content vs labels, media-disjoint splits, determinism,
and a tiny build through the real features path read back by AVEDirectory."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from avel.bench.audio import active_content, level_per_second, render_audio
from avel.bench.catalog import MediaCatalog
from avel.bench.composite import (
    DEFAULT_AVE,
    DEFAULT_MEDIA,
    build_benchmark,
    plan_record,
    render_all,
    render_clip,
)
from avel.bench.examples import choose_examples
from avel.bench.plan import BACKGROUND, EVENT, OPEN, Planner, VideoPlan
from avel.bench.stats import VIDEOS, benchmark_stats, loudness_per_kind, read_manifest, second_kind
from avel.commands import main as cli_main
from avel.common.classes import BACKGROUND_INDEX, class_index
from avel.common.config import FeatureConfig, composite_preset
from avel.data import Annotation, AVEDirectory, FeatureDims, FeaturesInfo, read_annotations
from avel.data.layout import SPLITS
from avel.features.media import decode_clip
from avel.features.projection import Projection
from avel.training.checkpoint import read_features

USABLE = (
    "Male speech, man speaking",
    "Bark",
    "Fixed-wing aircraft, airplane",
    "Female speech, woman speaking",
    "Helicopter",
    "Violin, fiddle",
    "Flute",
    "Acoustic guitar",
    "Train horn",
    "Clock",
    "Banjo",
    "Baby cry, infant cry",
    "Chainsaw",
    "Cat",
    "Horse",
    "Mandolin",
)


@pytest.fixture(scope="module")
def catalog() -> MediaCatalog:
    if not (DEFAULT_MEDIA / "manifest.csv").is_file():
        pytest.skip(f"media package not found at {DEFAULT_MEDIA}")
    return MediaCatalog.read(DEFAULT_MEDIA)


@pytest.fixture(scope="module")
def spans() -> list[Annotation]:
    if not (DEFAULT_AVE / "Annotations.txt").is_file():
        pytest.skip(f"AVE annotations not found at {DEFAULT_AVE}")
    return read_annotations(DEFAULT_AVE / "Annotations.txt")


@pytest.fixture(scope="module")
def full_plans(catalog: MediaCatalog, spans: list[Annotation]) -> list[VideoPlan]:
    return Planner(catalog, spans, composite_preset("full"), seed=0).plan()


def _span(ave_line: str) -> tuple[int, int]:
    *_, start, end = ave_line.rsplit("&", 4)
    return int(start), int(end)


# ---------------------------------------------------------------- the plan


def test_usable_classes_have_both_modalities_in_every_split(catalog: MediaCatalog) -> None:
    assert catalog.usable_classes() == USABLE
    for name in USABLE:
        for split in SPLITS:
            assert catalog.pool(name, "audio", split) and catalog.pool(name, "image", split)
    assert "Truck" not in catalog.usable_classes()  # audio in train only


def test_full_plan_counts_spans_and_labels(full_plans: list[VideoPlan]) -> None:
    events = [p for p in full_plans if p.kind == EVENT]
    background = [p for p in full_plans if p.kind == BACKGROUND]
    assert [sum(p.split == s for p in events) for s in SPLITS] == [1400, 300, 300]
    assert len(background) == 90 and {p.split for p in background} == {"train"}
    for split in SPLITS:  # classes balanced within each split
        counts = [sum(p.split == split and p.event_class == c for p in events) for c in USABLE]
        assert max(counts) - min(counts) <= 1
    for plan in events:
        assert plan.event_span == _span(plan.ave_source)  # AVE's span, not a new one
        assert plan.ave_source.startswith(plan.event_class + "&")
        labels = plan.labels(10)
        start, end = plan.event_span
        assert labels == [
            class_index(plan.event_class) if start <= t < end else BACKGROUND_INDEX for t in range(10)
        ]
    for plan in background:
        assert plan.event_span == (0, 0) and plan.labels(10) == [BACKGROUND_INDEX] * 10
        assert plan.visible != (0, 0) or plan.audible != (0, 0)  # the class is present, never both
    kinds = {
        second_kind({"event_object": {"visible": p.visible}, "audible": p.audible}, t)
        for p in events
        for t in range(10)
    }
    assert kinds == {"event", "visible only", "audible only", "neither"}


def test_open_set_videos_play_another_kind_of_event_labelled_background(
    full_plans: list[VideoPlan], catalog: MediaCatalog
) -> None:
    opened = [p for p in full_plans if p.kind == OPEN]
    assert [sum(p.split == s for p in opened) for s in SPLITS] == [168, 36, 36]  # 12 % of 1400/300/300
    for plan in opened:
        assert plan.event_span != (0, 0)  # shown and heard together ...
        assert plan.labels(10) == [BACKGROUND_INDEX] * 10  # ... and still background, as in AVE
        assert catalog.items[plan.event_object.image].ave_class == "_distractor"
        assert catalog.items[plan.sound].ave_class == "_ambient" and plan.sound not in plan.ambient


def test_full_frame_shots_and_moving_cameras_keep_exact_boxes(full_plans: list[VideoPlan]) -> None:
    events = [p for p in full_plans if p.kind == EVENT]
    filled = [p for p in events if p.event_object.fill]
    moving = [p for p in events if not p.camera.still]
    assert 0.15 < len(filled) / len(events) < 0.5 and 0.6 < len(moving) / len(events) < 0.8
    cfg = composite_preset("full")
    for plan in filled[:20]:  # a photo filling the frame is boxed by the whole frame, moving camera or not
        boxes = plan.event_object.boxes_per_second(10, cfg.fps, plan.camera)
        assert {b for b in boxes if b} == {(0, 0, 256, 256)}
    pasted = next(p for p in moving if not p.event_object.fill and p.camera.zoom[1] > p.camera.zoom[0] + 0.1)
    still = pasted.event_object.boxes_per_second(10, cfg.fps)
    filmed = pasted.event_object.boxes_per_second(10, cfg.fps, pasted.camera)
    t = pasted.visible[1] - 1  # near the end the zoom is larger: the object looks bigger
    assert (filmed[t][2] - filmed[t][0]) > (still[t][2] - still[t][0])


def test_splits_are_disjoint_by_media(full_plans: list[VideoPlan], catalog: MediaCatalog) -> None:
    used = {s: {m for p in full_plans if p.split == s for m in p.media()} for s in SPLITS}
    assert not used["train"] & used["val"]
    assert not used["train"] & used["test"]
    assert not used["val"] & used["test"]
    for split, paths in used.items():
        assert {catalog.items[m].split for m in paths} == {split}


def test_config_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match=r"p_visible_only \+ p_audible_only must be <= 1"):
        composite_preset("tiny", p_visible_only=0.8, p_audible_only=0.5)
    with pytest.raises(ValueError, match="n_val must be >= 0"):
        composite_preset("full", n_val=-1)
    with pytest.raises(ValueError, match="valid: tiny, full"):
        composite_preset("huge")


def test_same_seed_same_plan_other_seed_differs(catalog: MediaCatalog, spans: list[Annotation]) -> None:
    cfg = composite_preset("tiny")
    first = Planner(catalog, spans, cfg, seed=3).plan()
    assert first == Planner(catalog, spans, cfg, seed=3).plan()
    other = Planner(catalog, spans, cfg, seed=4).plan()
    assert [p.labels(10) for p in first] != [p.labels(10) for p in other]
    assert [p.media() for p in first] != [p.media() for p in other]
    assert VideoPlan.from_dict(json.loads(json.dumps(first[0].to_dict()))) == first[0]


# ---------------------------------------------------------------- rendering vs labels


def test_audio_is_level_free_and_gap_free() -> None:
    cfg = composite_preset("tiny")
    sr = cfg.sample_rate
    tone = 0.5 * np.sin(np.arange(sr) * 2 * np.pi * 440 / sr).astype(np.float32)
    gappy = np.concatenate([tone, np.zeros(sr // 2, np.float32), tone[: sr // 2]])
    assert len(active_content(gappy, cfg, Path("gappy.wav"))) == sr + sr // 2  # the silence is gone
    loud_and_quiet = np.concatenate([tone * 0.01, tone, tone * 0.1])  # -46, -9, -29 dBFS
    clicks = np.zeros(sr, np.float32)
    clicks[::4000] = 0.5  # 4 clicks: crest factor 33 dB, over the 25 dB left by -26 dBFS / -1 dBFS
    levelled = level_per_second(np.concatenate([loud_and_quiet, clicks]), cfg).reshape(4, sr)
    core = levelled[:, sr // 10 : -sr // 10]  # away from the gain ramps
    dbfs = 20 * np.log10(np.sqrt((core[:3] ** 2).mean(axis=1)))
    np.testing.assert_allclose(dbfs, cfg.target_dbfs, atol=0.1)
    assert 20 * np.log10(np.abs(levelled[3]).max()) == pytest.approx(cfg.peak_dbfs, abs=0.01)  # not clipped


def _hard_plans(plans: list[VideoPlan], n: int) -> list[VideoPlan]:
    """Plans with both hard background kinds beside the event, one per class."""
    return choose_examples(plans, composite_preset("full"), n)


def test_rendered_video_matches_labels(full_plans: list[VideoPlan], tmp_path: Path) -> None:
    """Decoded pixels and samples agree with the manifest second by second."""
    cfg, k = composite_preset("full"), 4
    filmed = [p for p in full_plans if not p.camera.still]  # a filled and a pasted photo, moving camera
    plans = [
        *_hard_plans([p for p in filmed if p.event_object.fill], 1),
        *_hard_plans([p for p in filmed if not p.event_object.fill], 1),
        *_hard_plans([p for p in full_plans if p.camera.still], 1),
    ]
    assert len(plans) == 3
    for plan in plans:
        path = tmp_path / f"{plan.name}.mp4"
        render_clip(plan, path, DEFAULT_MEDIA, cfg)
        clip = decode_clip(path, FeatureConfig(frames_per_segment=k, frame_size=cfg.frame_size))
        assert clip.frames.shape == (10, k, 256, 256, 3)

        # Pixels: the object's box differs from the same scene without the object exactly when visible.
        # Both go through the codec: at a high crf and with sensor noise it changes flat areas by a
        # few levels, the same in both files where their pixels are the same.
        hidden = replace(plan, event_object=replace(plan.event_object, visible=(0, 0)))
        render_clip(hidden, tmp_path / "hidden.mp4", DEFAULT_MEDIA, cfg)
        decoded_scene = decode_clip(
            tmp_path / "hidden.mp4", FeatureConfig(frames_per_segment=k, frame_size=cfg.frame_size)
        ).frames.astype(np.float32)  # (10, K, 256, 256, 3)
        boxes = plan.event_object.boxes_per_second(10, cfg.fps, plan.camera)
        shown = [b for b in boxes if b]
        region = (
            min(b[0] for b in shown),
            min(b[1] for b in shown),
            max(b[2] for b in shown),
            max(b[3] for b in shown),
        )
        for t in range(10):
            x0, y0, x1, y1 = boxes[t] or region
            decoded = clip.frames[t, :, y0:y1, x0:x1].astype(np.float32)  # (K, h, w, 3)
            diff = np.abs(decoded - decoded_scene[t, :, y0:y1, x0:x1]).mean(axis=(1, 2, 3))  # (K,)
            if boxes[t]:  # in every decoded frame of the second
                assert diff.min() > 20, (plan.name, t, diff)
            else:  # codec noise only
                assert diff.max() < 6, (plan.name, t, diff)
            outside = np.ones((cfg.frame_size, cfg.frame_size), dtype=bool)
            outside[y0:y1, x0:x1] = False  # ... and nothing changes outside the box
            if not outside.any():  # a photo filling the frame
                continue
            rest = np.abs(clip.frames[t].astype(np.float32) - decoded_scene[t])[:, outside]  # (K, n, 3)
            assert rest.mean() < 3, (plan.name, t, rest.mean())

        # Sound: what the ambient-only mix cannot explain is the event, exactly in the audible seconds.
        ambient = render_audio(replace(plan, audible=(0, 0)), DEFAULT_MEDIA, cfg)
        sr, edge = cfg.sample_rate, int(0.03 * cfg.sample_rate)  # gain ramps reach 25 ms into a second
        for t in range(10):
            core = slice(t * sr + edge, (t + 1) * sr - edge)
            unexplained = _unexplained_spectrum(clip.audio[core], ambient[core])
            if plan.audible[0] <= t < plan.audible[1]:  # SNR >= -5 dB in every audible second
                assert unexplained > 0.06, (plan.name, t, unexplained)
            else:  # codec noise only
                assert unexplained < 0.04, (plan.name, t, unexplained)


def _unexplained_spectrum(decoded: np.ndarray, reference: np.ndarray) -> float:
    """Share of the decoded magnitude spectrogram that a scaled `reference` does not explain.

    Magnitudes, not waveforms: AAC may replace noise-like bands by synthetic noise of the same
    spectrum (measured on 800 seconds: 1 % of the event-free seconds above 0.01, 1 % of the
    audible ones below 0.14).
    """
    window = np.hanning(512)
    frames = [
        np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), 512)[::256] * window
        for x in (decoded, reference)
    ]
    d, r = (np.abs(np.fft.rfft(f, axis=1)) for f in frames)  # (frames, 257) each
    residual = d - (d * r).sum() / (r * r).sum() * r  # least-squares fit of |D| by |R|
    return float((residual**2).sum() / (d**2).sum())


# ---------------------------------------------------------------- a tiny build, end to end


TINY = {"n_train": 11, "n_val": 3, "n_test": 3, "n_background": 2, "frames_per_segment": 1}


@pytest.fixture(scope="module")
def tiny_build(
    catalog: MediaCatalog, spans: list[Annotation], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A reduced tiny build (20 videos, 1 open-set, K = 1): rendering, the real features path, the writer."""
    out = tmp_path_factory.mktemp("bench") / "tiny"
    build_benchmark(out, composite_preset("tiny", **TINY), seed=0, workers=2, preset_name="tiny")
    return out


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.mp4"))}


def test_tiny_build_is_a_valid_ave_directory(tiny_build: Path) -> None:
    data = AVEDirectory(tiny_build)
    manifest = read_manifest(tiny_build)
    events = [v for v in manifest["videos"] if v["kind"] != BACKGROUND]  # the rows: event and open-set
    assert data.num_videos == len(events) == 18
    assert [v["split"] for v in events if v["kind"] == OPEN] == ["train"]  # 12 % of 11, of 3: 1, 0
    assert data.check_annotations() == []
    assert data.dims == FeatureDims(num_segments=10, audio_dim=128, visual_dim=512, grid_h=7, grid_w=7)
    assert data.labels().argmax(axis=2).tolist() == [v["labels"] for v in events]
    assert [a.video_id for a in data.annotations()] == [v["name"] for v in events]
    for split, n in zip(SPLITS, (12, 3, 3), strict=True):
        rows = data.order(split, "sel")
        assert len(rows) == n and {events[i]["split"] for i in rows} == {split}
        # the match split is the same split, less the open-set videos (no class to match)
        assert data.order(split, "cml").tolist() == [i for i in rows if events[i]["kind"] == EVENT]
    assert data.has_background_videos()
    train = data.dataset("train", "wsel")
    assert len(train) == 12 + 2 and (train.labels[12:].argmax(axis=2) == BACKGROUND_INDEX).all()
    assert np.isfinite(train.visual).all() and train.visual.std() > 0.1  # real features, projected
    features = read_features(tiny_build)  # what training stores in its checkpoints
    info = FeaturesInfo.from_dict(features["info"])
    assert info.frames_per_segment == 1  # the default backbones, with the bench's K
    assert (info.visual_backbone, info.audio_backbone) == ("mobilenet_v2", "yamnet")
    assert features["projection"] is not None
    assert len(list((tiny_build / VIDEOS).glob("*.mp4"))) == 20
    bbox = events[0]["bbox"]  # a box exactly in the seconds the object is on screen
    visible = events[0]["event_object"]["visible"]
    assert [b is not None for b in bbox] == [visible[0] <= t < visible[1] for t in range(10)]


def test_tiny_build_resumes_and_same_seed_gives_same_files(
    tiny_build: Path, catalog: MediaCatalog, spans: list[Annotation], tmp_path: Path
) -> None:
    cfg = composite_preset("tiny", **TINY)
    videos = _hashes(tiny_build / VIDEOS)
    parts = sorted(tiny_build.glob(".parts/*/*.npz"))
    assert len(parts) == 18  # extract_videos' per-video cache of the event and open-set videos
    lost = tiny_build / VIDEOS / "val_0001.mp4"  # as if the build had stopped before rendering it
    kept = sorted(set((tiny_build / VIDEOS).glob("*.mp4")) - {lost}) + parts
    stamps = [p.stat().st_mtime_ns for p in kept]
    labels = AVEDirectory(tiny_build).labels()
    lost.unlink()

    build_benchmark(tiny_build, cfg, seed=0, workers=1, preset_name="tiny")  # resume
    assert [p.stat().st_mtime_ns for p in kept] == stamps  # nothing finished was redone
    assert _hashes(tiny_build / VIDEOS) == videos  # the missing video came back byte-identical
    assert sorted(tiny_build.glob(".parts/*/*.npz")) == parts  # ... so its features were cached
    np.testing.assert_array_equal(AVEDirectory(tiny_build).labels(), labels)
    finished = {p: p.stat().st_mtime_ns for p in tiny_build.rglob("*") if p.is_file()}
    build_benchmark(tiny_build, cfg, seed=0, workers=1, preset_name="tiny")  # finished: a no-op
    assert {p: p.stat().st_mtime_ns for p in tiny_build.rglob("*") if p.is_file()} == finished
    with pytest.raises(ValueError, match="seed 0"):  # never mixes two plans in one folder
        build_benchmark(tiny_build, cfg, seed=1)

    again = Planner(catalog, spans, cfg, seed=0).plan()
    assert json.loads(json.dumps([plan_record(p, cfg) for p in again])) == read_manifest(tiny_build)["videos"]
    render_all(again, tmp_path / "again", DEFAULT_MEDIA, cfg, workers=2)
    assert _hashes(tmp_path / "again" / VIDEOS) == videos  # byte-identical mp4 files

    other = Planner(catalog, spans, cfg, seed=1).plan()[:3]
    render_all(other, tmp_path / "other", DEFAULT_MEDIA, cfg, workers=1)
    changed = _hashes(tmp_path / "other" / VIDEOS)
    assert all(changed[name] != videos[name] for name in changed)


def test_a_given_projection_reprojects_a_finished_build(tiny_build: Path, tmp_path: Path) -> None:
    """`bench build --projection`: another PCA (the bundled models' basis) re-projects the cached
    native features of a finished build, rendering and extracting nothing again."""
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_build, copy)
    fitted = Projection.load(copy / "projection.pt")
    shift = torch.linspace(-1.0, 1.0, fitted.visual.in_dim)  # another basis: the visual mean moves
    given = replace(fitted, visual=replace(fitted.visual, mean=fitted.visual.mean + shift))
    assert given.id != fitted.id
    kept = sorted(copy.glob("videos/*.mp4")) + sorted(copy.rglob(".parts/*/*.npz"))
    stamps = [p.stat().st_mtime_ns for p in kept]

    def rebuild() -> None:
        cfg = composite_preset("tiny", **TINY)
        build_benchmark(copy, cfg, seed=0, workers=1, preset_name="tiny", projection=given)

    rebuild()
    assert [p.stat().st_mtime_ns for p in kept] == stamps  # nothing rendered or extracted again
    assert FeaturesInfo.read(copy).projection.id == given.id == Projection.load(copy / "projection.pt").id
    old, new = AVEDirectory(tiny_build), AVEDirectory(copy)
    old_visual, new_visual = old.dataset("train", "wsel").visual, new.dataset("train", "wsel").visual
    # eq. of a PCA: y = (x - mean) @ W / s, so moving the mean moves every projected row by -shift @ W / s
    moved = -(shift @ fitted.visual.components).numpy() / fitted.visual.scale
    np.testing.assert_allclose(new_visual - old_visual, np.broadcast_to(moved, old_visual.shape), atol=1e-4)
    finished = {p: p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()}
    rebuild()
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()} == finished  # same basis: no-op


def test_stats_command_prints_the_build(
    tiny_build: Path, spans: list[Annotation], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["bench", "stats", str(tiny_build)]) == 0
    text = capsys.readouterr().out
    assert "| total | 11 | 3 | 3 | 2 |" in text
    manifest = read_manifest(tiny_build)
    events = [v for v in manifest["videos"] if v["kind"] == EVENT]
    hard = sum(second_kind(v, t) in ("visible only", "audible only") for v in events for t in range(10))
    assert f"Hard background (the class in one modality only): {hard} (" in text
    assert "| AVE Annotations.txt | 0.0 % | 5.2 % |" in text  # AVE's own length histogram beside ours
    assert text == benchmark_stats(tiny_build, spans)  # the CLI prints exactly the library's report


def test_decoded_event_seconds_are_not_louder(tiny_build: Path) -> None:
    levels = loudness_per_kind(tiny_build)
    target = composite_preset("tiny").target_dbfs
    assert len(levels["event"]) + len(levels["visible only"]) + len(levels["audible only"]) > 100
    # Medians and shares, not means: a second of near-silent ambience left after the microphone's
    # high-pass stays under the target (the gain is capped at max_gain_db), and one such second
    # moves a mean over a tiny build's few dozen background seconds by half a dB.
    for kind, dbfs in levels.items():
        if dbfs:
            assert abs(np.median(dbfs) - target) < 0.5, kind
            assert np.mean(np.abs(np.asarray(dbfs) - target) < 1.0) >= 0.9, kind
    background = levels["visible only"] + levels["neither"] + levels["open event"]
    assert abs(np.median(levels["event"]) - np.median(background)) < 0.3
