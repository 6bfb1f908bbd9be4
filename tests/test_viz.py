"""viz/: figures and images checked for content (cells, colours, marks, values), on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_hex
from PIL import Image

import viz
from avel.common.classes import AVE_CLASSES, BACKGROUND_INDEX, UNKNOWN_TEXT, UNSURE_TEXT, class_index
from viz import export, heatmap
from viz.colors import BACKGROUND_COLOR, BEST_COLOR, TRUTH_COLOR

SMALL = ("Bark", "Cat", "Horse", "Background")  # 3 events + background (index 3 = -1)
BARK, CAT, HORSE, BG = range(4)


def one_hot_probs(labels: list[int], num_classes: int = 4, p: float = 0.7) -> np.ndarray:
    """(T, C) probabilities with `p` on the given class and the rest spread evenly."""
    probs = np.full((len(labels), num_classes), (1 - p) / (num_classes - 1))
    probs[np.arange(len(labels)), labels] = p
    return probs


# --- colours ---------------------------------------------------------------------------------


def test_class_colors_background_grey_and_events_distinct() -> None:
    colors = viz.class_colors(AVE_CLASSES)
    assert colors[BACKGROUND_INDEX] == BACKGROUND_COLOR
    assert len(set(colors[:BACKGROUND_INDEX])) == BACKGROUND_INDEX  # 28 distinct event colours
    assert BACKGROUND_COLOR not in colors[:BACKGROUND_INDEX]
    assert viz.class_colors(AVE_CLASSES, background_index=BACKGROUND_INDEX) == colors


# --- attention overlay -----------------------------------------------------------------------


def test_overlay_keeps_frame_size_and_puts_hot_spot_on_max_cell() -> None:
    frame = np.zeros((70, 140, 3), dtype=np.uint8)  # not square: rows and columns cannot be swapped
    attention = np.zeros((7, 7))
    attention[2, 5] = 1.0  # cell rows 20..29, columns 100..119
    out = viz.attention_overlay(frame, attention, alpha=1.0, colormap="gray")
    assert out.shape == (70, 140, 3) and out.dtype == np.uint8
    brightness = out.sum(axis=2)
    row, col = np.unravel_index(brightness.argmax(), brightness.shape)
    assert 20 <= row < 30 and 100 <= col < 120
    assert brightness[row, col] == 3 * 255  # normalised to 1 at the peak
    assert brightness[0, 0] == 0  # and 0 far away


def test_overlay_blends_jet_peak_and_alpha_zero_is_the_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    attention = np.zeros((8, 8))
    attention[4, 1] = 1.0
    out = viz.attention_overlay(frame, attention, alpha=0.5, colormap="jet")
    peak = np.array(colormaps["jet"](1.0)[:3]) * 255  # the hottest colour, dark red
    blended = np.rint(0.5 * frame.astype(float) + 0.5 * peak)
    heat = heatmap.upsample_attention(attention, 64, 64)
    r, c = np.unravel_index(heat.argmax(), heat.shape)
    assert 32 <= r < 40 and 8 <= c < 16
    np.testing.assert_allclose(out[r, c], blended[r, c], atol=1)
    np.testing.assert_array_equal(viz.attention_overlay(frame, attention, alpha=0.0), frame)


def test_flat_attention_has_no_hot_spot() -> None:
    frame = np.full((20, 30, 3), 100, dtype=np.uint8)
    out = viz.attention_overlay(frame, np.full((7, 7), 1 / 49), alpha=0.5)
    assert (out == out[0, 0]).all()


def test_overlay_rejects_bad_frame() -> None:
    with pytest.raises(
        ValueError, match=r"frame: expected an RGB image \(H, W, 3\) uint8, got shape \(20, 30\)"
    ):
        viz.attention_overlay(np.zeros((20, 30), dtype=np.uint8), np.ones((7, 7)))


def test_gallery_grid_and_captions() -> None:
    t, h, w = 7, 30, 120  # wide enough for one line of caption
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
    attentions = rng.random((t, 7, 7))
    labels = [SMALL[i % 4] for i in range(t)]
    overlays = viz.attention_overlays(frames, attentions, labels)
    assert [caption for _, caption in overlays][:2] == ["0-1 s: Bark", "1-2 s: Cat"]
    grid = viz.attention_gallery(frames, attentions, labels, columns=3)
    tile_h, gap = heatmap.CAPTION_HEIGHT_PX + h, heatmap.TILE_GAP_PX
    assert grid.shape == (
        3 * tile_h + 2 * gap + heatmap.COLORBAR_PX,
        3 * w + 2 * gap,
        3,
    )  # the colour bar under it
    # segment 4 is row 1, column 1: its overlay sits below its caption strip
    top, left = tile_h + gap + heatmap.CAPTION_HEIGHT_PX, w + gap
    np.testing.assert_array_equal(grid[top : top + h, left : left + w], overlays[4][0])
    with pytest.raises(ValueError, match="labels: expected one label per segment"):
        viz.attention_overlays(frames, attentions, labels[:3])


def test_gallery_wraps_long_captions_mutes_tiles_and_cuts_back_into_seconds() -> None:
    t, h, w = 5, 40, 60
    rng = np.random.default_rng(2)
    frames = np.full((t, h, w, 3), (200, 30, 30), np.uint8)
    attentions = rng.random((t, 7, 7))
    labels = ["Bark 0.81 · event 0.93", "Not a known event (top: Bark 0.41) · event 0.88"] + ["x"] * 3
    muted = [False, True, False, False, True]
    grid = viz.attention_gallery(
        frames, attentions, labels, columns=2, muted=muted, seconds=[40, 41, 7, 8, 9]
    )
    tiles = viz.gallery_tiles(grid, t, columns=2)
    assert len(tiles) == t and all(tile.shape == tiles[0].shape for tile in tiles)
    strip = tiles[0].shape[0] - h
    assert strip >= heatmap.CAPTION_HEIGHT_PX + heatmap.CAPTION_LINE_PX  # the long caption wrapped
    overlays = viz.attention_overlays(frames, attentions, labels, muted=muted, seconds=[40, 41, 7, 8, 9])
    assert [c for _, c in overlays][:2] == [f"40-41 s: {labels[0]}", f"41-42 s: {labels[1]}"]
    for tile, (overlay, _) in zip(tiles, overlays, strict=True):
        np.testing.assert_array_equal(tile[strip:], overlay)  # each second below its caption
    dimmed, bright = tiles[1][strip:].astype(int), tiles[0][strip:].astype(int)
    assert dimmed.mean() > overlays[1][0].mean() - 1  # (the overlay is the dimmed one already)
    assert (dimmed[..., 0] - dimmed[..., 2]).mean() > 20  # dimmed, its colours still there
    assert (bright[..., 0] - bright[..., 2]).mean() > (dimmed[..., 0] - dimmed[..., 2]).mean()
    ink = tiles[0][:strip].min(axis=-1)  # caption text: black on a bright tile, grey on a muted one
    assert ink.min() < 60 and 60 <= tiles[1][:strip].min() < 255
    assert (tiles[2][strip - 4 : strip] == 255).all()  # a one-line caption leaves the rest of the strip white
    with pytest.raises(ValueError, match="seconds: expected one second per segment"):
        viz.attention_overlays(frames, attentions, labels, seconds=[1, 2])


def test_gallery_outlines_the_true_object_box_and_names_it_in_the_legend() -> None:
    t, h, w = 2, 40, 60
    frames = np.full((t, h, w, 3), 90, np.uint8)
    attentions = np.random.default_rng(3).random((t, 7, 7))
    boxes = np.array([[0.25, 0.5, 0.75, 1.0], [np.nan] * 4])  # second 1: the object is hidden
    plain = viz.attention_gallery(frames, attentions, columns=2, muted=[True, False])
    boxed = viz.attention_gallery(frames, attentions, columns=2, muted=[True, False], boxes=boxes)
    plain_tiles, boxed_tiles = viz.gallery_tiles(plain, t, 2), viz.gallery_tiles(boxed, t, 2)
    strip = plain_tiles[0].shape[0] - h
    tile, before = boxed_tiles[0][strip:], plain_tiles[0][strip:]
    for row, col in ((20, 30), (30, 15), (30, 44), (39, 30)):  # top, left, right and bottom edges
        assert tile[row, col].tolist() == [255, 255, 255]  # white, even on a dimmed (muted) tile
    assert tile[19, 30].tolist() == [0, 0, 0] and tile[22, 30].tolist() == [0, 0, 0]  # edged in black
    np.testing.assert_array_equal(tile[24:36, 18:42], before[24:36, 18:42])  # inside: the heat map as it was
    np.testing.assert_array_equal(tile[:18], before[:18])  # outside too
    np.testing.assert_array_equal(boxed_tiles[1], plain_tiles[1])  # no box, nothing drawn
    footer = heatmap.COLORBAR_PX
    assert (boxed[-footer:] != plain[-footer:]).any()  # the legend entry "true object box"
    hidden = viz.attention_gallery(frames, attentions, columns=2, muted=[True, False], boxes=boxes[[1, 1]])
    np.testing.assert_array_equal(hidden, plain)  # no box shown: no legend either
    with pytest.raises(ValueError, match="boxes: expected one box per segment"):
        viz.attention_overlays(frames, attentions, boxes=boxes[:1])


# --- summaries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([BG, BG, BG, BARK, BARK, BARK, BARK, BG, BG, BG], "Bark, seconds 3-7"),
        (
            [BARK, BARK, BG, BG, BG, CAT, CAT, BG, BG, HORSE],
            "Bark, seconds 0-2; Cat, seconds 5-7; Horse, seconds 9-10",
        ),
        ([BG] * 10, "no event detected"),
        ([CAT] * 10, "Cat, seconds 0-10"),
    ],
)
def test_summarize_events(labels: list[int], expected: str) -> None:
    assert viz.summarize_events(np.array(labels), SMALL, background_index=-1) == expected


def test_summarize_events_ave_classes() -> None:
    labels = np.full(10, BACKGROUND_INDEX)
    labels[3:7] = class_index("Bark")
    assert viz.summarize_events(labels, AVE_CLASSES, BACKGROUND_INDEX) == "Bark, seconds 3-7"


def test_top_k_table() -> None:
    probs = np.array([[0.1, 0.6, 0.2, 0.1], [0.05, 0.05, 0.1, 0.8]])
    rows = viz.top_k_table(probs, SMALL, k=2)
    assert viz.top_k_headers(2) == ["Seconds", "Answer", "Top 1", "P 1", "Top 2", "P 2"]
    assert rows == [
        ["0-1", "Cat", "Cat", 0.6, "Horse", 0.2],
        ["1-2", "Background", "Background", 0.8, "Horse", 0.1],
    ]
    unsure = viz.top_k_table(probs, SMALL, k=2, answers=["Cat", "Not a known event"])
    assert unsure[1][:3] == ["1-2", "Not a known event", "Background"]  # the top class stays listed
    with pytest.raises(ValueError, match="apply a softmax"):
        viz.top_k_table(probs * 10, SMALL)


def test_tags_table_lists_each_backbones_top_classes() -> None:
    audio = [[("Dog", 0.91), ("Bark", 0.5)], [("Speech", 0.3), ("Music", 0.1)]]
    rows = viz.tags_table(audio, None)
    assert rows == [
        ["0-1", "Dog 0.91, Bark 0.50", "n/a (no classifier)"],
        ["1-2", "Speech 0.30, Music 0.10", "n/a (no classifier)"],
    ]


def test_muted_overlays_are_dimmed_not_greyed_and_abstained_cells_have_their_own_swatch() -> None:
    frames = np.full((2, 8, 8, 3), (200, 30, 30), np.uint8)
    overlays = viz.attention_overlays(frames, np.ones((2, 2, 2)), ["a", "b"], muted=[False, True])
    bright, muted = overlays[0][0].astype(int), overlays[1][0].astype(int)
    assert (muted >= bright).all() and muted.mean() > bright.mean() + 20  # paler
    contrast = (1 - heatmap.DIM_WHITE) * (bright[..., 0] - bright[..., 2])
    assert (
        np.abs((muted[..., 0] - muted[..., 2]) - contrast).max() <= 1 and contrast.min() > 10
    )  # colour kept
    probs = np.array([[0.1, 0.6, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2]])
    fig = viz.event_timeline({"Model": probs}, SMALL, answers={"Model": np.array([CAT, len(SMALL)])})
    row = next(t for t in fig.data if t.meta == {"role": "row"})
    assert list(row.marker.pattern.shape) == ["", "x"]
    assert f"<b>{UNKNOWN_TEXT}</b>" in row.hovertext[1] and UNKNOWN_TEXT not in row.hovertext[0]
    legend = {t.name: t.marker for t in fig.data if t.meta == {"role": "legend"}}
    assert legend[UNKNOWN_TEXT].color != viz.BACKGROUND_COLOR  # unlike background's swatch
    assert legend[UNKNOWN_TEXT].pattern.shape == "x"


def test_disagreement_compares_the_answers_shown_and_a_third_state_fits() -> None:
    unsure, unknown_event = len(SMALL), len(SMALL) + 1  # indices of the two states given below
    probs = one_hot_probs([CAT, CAT, BG, BARK])  # the same top classes: only the answers differ
    third = viz.AnswerState("Off screen", "#ffe0e0", ".")
    fig = viz.event_timeline(
        {"A": probs, "B": probs},
        SMALL,
        answers={"A": np.array([unsure, unsure, BG, BARK]), "B": np.array([unsure, BG, BG, unknown_event])},
        states=(viz.NOT_KNOWN, third),
        thresholds={"A": 0.5, "B": None},
    )
    (marks,) = [tr for tr in fig.data if tr.meta["role"] == "disagreement"]
    assert list(marks.x) == [1.5, 3.5]  # both unsure: agree; unsure vs background, Bark vs unknown: differ
    assert f"A: {UNKNOWN_TEXT}, B: Background" in marks.hovertext[0] and marks.showlegend
    legend = [tr.name for tr in fig.data if tr.meta["role"] == "legend"]
    assert "Off screen" in legend and UNKNOWN_TEXT in legend
    row_b = [tr for tr in fig.data if tr.meta["role"] == "row"][1]
    assert row_b.marker.color[3] == "#ffe0e0" and row_b.marker.pattern.shape[3] == "."
    thresholds = [tr for tr in fig.data if tr.meta["role"] == "threshold"]
    assert [tr.name for tr in thresholds] == ["A: abstains below 0.50"] and list(thresholds[0].y) == [
        0.5,
        0.5,
    ]
    lines = {tr.name: tr for tr in fig.data if tr.meta["role"] in ("probability", "event-probability")}
    assert list(lines["A: p(answer)"].y) == [0.7] * 4 and lines["A: p(answer)"].yaxis == "y2"
    assert list(lines["A: p(event) = 1 - p(background)"].y) == pytest.approx([0.9, 0.9, 0.3, 0.9])


def test_timeline_tells_background_unsure_and_not_a_known_event_apart() -> None:
    probs = np.array(
        [[0.1, 0.6, 0.2, 0.1], [0.05, 0.45, 0.4, 0.1], [0.3, 0.3, 0.2, 0.2], [0.1, 0.1, 0.1, 0.7]]
    )
    unknown, unsure = len(SMALL), len(SMALL) + 1  # Localization.shown's abstention indices
    fig = viz.event_timeline({"Model": probs}, SMALL, answers={"Model": np.array([1, unsure, unknown, 3])})
    row = next(t for t in fig.data if t.meta == {"role": "row"})
    assert list(row.marker.pattern.shape) == ["", ".", "x", ""]
    assert len(set(row.marker.color[1:3])) == 2  # unsure and unknown cells differ in colour too
    assert UNSURE_TEXT in row.hovertext[1] and UNKNOWN_TEXT in row.hovertext[2]
    legend = [t.name for t in fig.data if t.meta == {"role": "legend"}]
    assert {SMALL[-1], UNSURE_TEXT, UNKNOWN_TEXT} <= set(legend)  # background, unsure, not a known event


def test_timeline_download_draws_unsure_and_not_a_known_event_as_the_page_does() -> None:
    """The static timeline (the app's SVG download) once knew only "unsure": an unsure second
    (index C + 1) crashed it and a not-known second (C) was labelled unsure."""
    probs = np.full((3, len(SMALL)), 1 / len(SMALL))
    unknown, unsure = len(SMALL), len(SMALL) + 1
    fig = viz.timeline_image({"Model": probs}, SMALL, answers={"Model": np.array([unknown, unsure, 3])})
    ax_rows = fig.axes[0]
    hatches = [bar.get_hatch() for bar in ax_rows.patches[:3]]
    assert hatches == ["xx", "..", None], hatches  # the page's patterns: x not known, . unsure
    legend = [text.get_text() for text in ax_rows.get_legend().get_texts()]
    assert legend == ["Background", UNKNOWN_TEXT, UNSURE_TEXT], legend


# --- timeline --------------------------------------------------------------------------------


def test_event_timeline_rows_cells_hover_and_disagreement() -> None:
    coatt = [BG, BARK, BARK, BARK, CAT, BG]
    base = [BG, BG, BARK, BARK, HORSE, BG]  # disagrees at seconds 1 and 4
    truth = np.array([BG, BARK, BARK, BARK, CAT, CAT])
    fig = viz.event_timeline(
        {"Co-attention": one_hot_probs(coatt), "Baseline": one_hot_probs(base)}, SMALL, ground_truth=truth
    )
    colors = viz.class_colors(SMALL)
    rows = {tr.name: tr for tr in fig.data if tr.meta["role"] == "row"}
    assert list(rows) == ["Ground truth", "Co-attention", "Baseline"]
    for name, labels in (("Ground truth", truth), ("Co-attention", coatt), ("Baseline", base)):
        bar = rows[name]
        assert list(bar.base) == list(range(6)) and list(bar.x) == [1] * 6  # six 1-s cells
        assert list(bar.marker.color) == [colors[c] for c in labels]
    assert rows["Co-attention"].marker.color[0] == BACKGROUND_COLOR
    hover = rows["Co-attention"].hovertext[4]
    assert "Co-attention, 4-5 s: <b>Cat</b>" in hover and "top-3: Cat 70%" in hover
    widths = list(rows["Baseline"].marker.line.width)
    assert [t for t, wd in enumerate(widths) if wd > 1] == [1, 4]
    assert set(rows["Ground truth"].marker.line.width) == {1.0}
    (marks,) = [tr for tr in fig.data if tr.meta["role"] == "disagreement"]
    assert list(marks.x) == [1.5, 4.5]
    assert "Co-attention: Cat, Baseline: Horse" in marks.hovertext[1]
    legend = [tr.name for tr in fig.data if tr.meta["role"] == "legend"]
    assert legend == ["Bark", "Cat", "Horse", "Background"]
    assert list(fig.layout.yaxis.categoryarray) == [
        "Ground truth",
        "Co-attention",
        "Baseline",
        "Disagreement",
    ]


def test_event_timeline_single_model_and_errors() -> None:
    fig = viz.event_timeline({"Co-attention": one_hot_probs([BARK, BG])}, SMALL)
    assert [tr.meta["role"] for tr in fig.data] == [
        "row",
        "legend",
        "legend",
        "probability",
        "event-probability",
    ]
    with pytest.raises(ValueError, match="same number of segments"):
        viz.event_timeline({"a": one_hot_probs([BARK]), "b": one_hot_probs([BARK, BG])}, SMALL)
    with pytest.raises(ValueError, match=r"ground_truth: expected class indices of shape \(2,\)"):
        viz.event_timeline({"a": one_hot_probs([BARK, BG])}, SMALL, ground_truth=np.array([0, 1, 2]))


def test_event_timeline_of_a_long_clip_opens_on_its_first_seconds_with_a_slider() -> None:
    labels = [BARK, BG, CAT, BG] * 25  # 100 s
    long = viz.event_timeline({"a": one_hot_probs(labels)}, SMALL, initial_seconds=60)
    assert tuple(long.layout.xaxis2.range) == (0, 60) and long.layout.xaxis2.rangeslider.visible
    assert long.layout.xaxis.matches == "x2"  # the rows zoom with the probabilities
    assert tuple(long.layout.xaxis2.rangeslider.range) == (0, 100)  # the slider spans the whole clip
    assert len(next(t for t in long.data if t.meta == {"role": "row"}).x) == 100
    short = viz.event_timeline({"a": one_hot_probs(labels[:10])}, SMALL, initial_seconds=60)
    assert tuple(short.layout.xaxis2.range) == (0, 10) and not short.layout.xaxis2.rangeslider.visible


# --- confusion and per-class accuracy --------------------------------------------------------


def _counts(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (truth, pred), 1)
    return cm


def test_confusion_matrix_figure_counts_and_normalised_rows() -> None:
    rng = np.random.default_rng(0)
    occurring = np.array([0, 2, 4, 28])
    truth = rng.choice(occurring, size=50)
    pred = np.where(rng.random(50) < 0.7, truth, rng.choice(occurring, size=50))
    cm = _counts(truth, pred, len(AVE_CLASSES))

    raw = viz.confusion_matrix_figure(cm, AVE_CLASSES, normalize=False)
    shown = np.asarray(raw.axes[0].images[0].get_array())
    assert shown.shape == (4, 4) and shown.sum() == 50  # every segment counted once
    np.testing.assert_array_equal(shown, cm[np.ix_(occurring, occurring)])
    ticks = [t.get_text() for t in raw.axes[0].get_yticklabels()]
    assert ticks == ["0 Church bell", "2 Bark", "4 Race car, auto racing", "28 Background"]
    assert "(50 segments)" in raw.axes[0].get_title()

    norm = np.asarray(viz.confusion_matrix_figure(cm, AVE_CLASSES).axes[0].images[0].get_array())
    np.testing.assert_allclose(norm.sum(axis=1), 1.0)
    everything = viz.confusion_matrix_figure(cm, AVE_CLASSES, keep_all=True)
    assert everything.axes[0].images[0].get_array().shape == (29, 29)


def test_per_class_accuracy_figure_grouped_bars() -> None:
    acc = {"Co-attention": np.array([0.9, 0.5, np.nan, 0.8]), "Baseline": np.array([0.7, 0.6, np.nan, 0.9])}
    fig = viz.per_class_accuracy_figure(acc, SMALL, counts=np.array([10, 4, 0, 20]))
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 3  # 2 models x 3 classes with segments (Horse has none)
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [90.0, 50.0, 80.0, 70.0, 60.0, 90.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0 Bark (n=10)",
        "1 Cat (n=4)",
        "3 Background (n=20)",
    ]
    # side by side: the two models' bars of one class do not overlap
    first, second = ax.patches[0], ax.patches[3]
    assert first.get_x() + first.get_width() <= second.get_x() + 1e-9
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Co-attention", "Baseline"]


# --- t-SNE -----------------------------------------------------------------------------------


def test_stratified_subsample_count_and_proportions() -> None:
    labels = np.repeat([0, 2, 5], [60, 30, 10])
    kept = viz.stratified_subsample(labels, 20, seed=3)
    assert len(kept) == 20 and len(set(kept)) == 20
    np.testing.assert_array_equal(np.bincount(labels[kept], minlength=6)[[0, 2, 5]], [12, 6, 2])
    np.testing.assert_array_equal(kept, viz.stratified_subsample(labels, 20, seed=3))
    assert not np.array_equal(kept, viz.stratified_subsample(labels, 20, seed=4))


def test_stratified_subsample_keeps_everything_when_the_cap_exceeds_the_count() -> None:
    labels = np.repeat([0, 3], [5, 2])
    np.testing.assert_array_equal(viz.stratified_subsample(labels, 100), np.arange(7))


def test_tsne_embedding_subsamples_deterministically() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [40, 20])
    features = rng.normal(size=(60, 8)) + labels[:, None] * 4.0
    coords, kept = viz.tsne_embedding(features, seed=0, max_points=30, labels=labels)
    assert coords.shape == (30, 2) and kept.shape == (30,)
    assert np.bincount(labels[kept]).tolist() == [20, 10]
    coords2, kept2 = viz.tsne_embedding(features, seed=0, max_points=30, labels=labels)
    np.testing.assert_array_equal(kept, kept2)
    np.testing.assert_allclose(coords, coords2)
    all_coords, all_kept = viz.tsne_embedding(features[:10], max_points=30)
    assert all_coords.shape == (10, 2) and all_kept.tolist() == list(range(10))


def test_tsne_figure_panels_colours_and_legend() -> None:
    coords = np.arange(12, dtype=float).reshape(6, 2)
    labels = np.array([0, 0, 2, 2, 28, 28])
    panels = {name: (coords, labels) for name in ("Audio raw", "Audio CSPA", "Audio CSEA", "Visual raw")}
    fig = viz.tsne_figure(panels, AVE_CLASSES, columns=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(panels)
    colors = viz.class_colors(AVE_CLASSES)
    scatter_colors = [to_hex(c.get_facecolor()[0]) for c in visible[0].collections]
    assert scatter_colors == [colors[0], colors[2], colors[28]]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["0 Church bell", "2 Bark", "28 Background"]


def test_highlighted_maps_stamp_each_clips_stars_on_the_stored_maps_only() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 2, 28], 20)
    panels = {name: (rng.normal(size=(60, 2)), labels) for name in ("audio raw", "visual raw")}
    maps = viz.HighlightedMaps(panels, AVE_CLASSES, title="this clip")
    here, there = np.array([[0.0, 0.0], [1.0, -1.0]]), np.array([[-1.5, 1.0]])
    first = maps.image({"audio raw": here})
    assert maps.image({"visual raw": there}).shape == first.shape
    np.testing.assert_array_equal(maps.image({"audio raw": here}), first)  # the earlier stars are gone
    plain = maps.image({})
    changed = np.argwhere((first != plain).any(axis=-1))  # (n, 2) rows, columns
    audio_ax = maps.axes["audio raw"]
    x0, y0, x1, y1 = audio_ax.bbox.extents  # display pixels, origin bottom-left
    height = plain.shape[0]
    assert len(changed) > 0
    assert changed[:, 1].min() >= x0 - 1 and changed[:, 1].max() <= x1 + 1  # only inside its panel
    assert changed[:, 0].min() >= height - y1 - 1 and changed[:, 0].max() <= height - y0 + 1
    x, y = audio_ax.transData.transform(here[0])
    star = first[round(height - y), round(x)]
    assert star.max() < 40, star  # a black star where the point lies
    with pytest.raises(ValueError, match="no panel named"):
        maps.image({"Audio CSPA": here})


# --- CML -------------------------------------------------------------------------------------


def test_cml_distance_figure_marks_best_and_truth() -> None:
    distances = np.array([3.0, 1.0, 2.5, 0.5, 2.0, 4.0, 3.5])  # 7 windows of length 4 in T = 10
    fig = viz.cml_distance_figure(distances, best=3, true_start=1, query_span=(2, 6), direction="a2v")
    bars = next(tr for tr in fig.data if tr.name == "windows")
    assert list(bars.x) == ["0-4", "1-5", "2-6", "3-7", "4-8", "5-9", "6-10"]
    assert [i for i, c in enumerate(bars.marker.color) if c == BEST_COLOR] == [3]
    assert [i for i, c in enumerate(bars.marker.line.color) if c == TRUTH_COLOR] == [1]
    truth = next(tr for tr in fig.data if tr.name == "truth")
    assert list(truth.x) == ["1-5"] and list(truth.y) == [1.0]
    assert fig.layout.title.text == "A2V: audio seconds 2-6 -> best visual window 3-7 (wrong)"
    right = viz.cml_distance_figure(distances, best=3, true_start=None, query_span=(3, 7), direction="v2a")
    assert [tr.name for tr in right.data] == ["windows"]
    assert right.layout.title.text.startswith("V2A: visual seconds 3-7 -> best audio window")
    with pytest.raises(ValueError, match=r"best: expected a window start in \[0, 7\), got 7"):
        viz.cml_distance_figure(distances, best=7, true_start=None, query_span=(0, 4), direction="a2v")
    with pytest.raises(ValueError, match="direction: unknown 'x2y'; valid: a2v, v2a"):
        viz.cml_distance_figure(distances, best=0, true_start=None, query_span=(0, 4), direction="x2y")


# --- export ----------------------------------------------------------------------------------


def test_figure_to_image_and_save_figure(tmp_path, monkeypatch) -> None:
    fig = viz.confusion_matrix_figure(np.eye(4, dtype=int) * 3, SMALL)
    image = viz.figure_to_image(fig)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape == (round(height), round(width), 3) and image.dtype == np.uint8
    assert image.min() < 100 and image.max() == 255  # drawn, not blank

    png = viz.save_figure(fig, tmp_path / "cm")
    assert png == tmp_path / "cm.png" and Image.open(png).size == (round(width), round(height))

    monkeypatch.setattr(export, "_kaleido_available", lambda: False)
    timeline = viz.event_timeline({"a": one_hot_probs([BARK, CAT])}, SMALL)
    html = viz.save_figure(timeline, tmp_path / "timeline.png")
    assert html == tmp_path / "timeline.html" and "Bark" in html.read_text(encoding="utf-8")
    with pytest.raises(TypeError, match="expected a matplotlib or plotly Figure, got str"):
        viz.save_figure("not a figure", tmp_path / "x.png")
