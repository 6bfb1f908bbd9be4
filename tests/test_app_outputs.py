"""Each tab's outputs are named once (avel/app/outputs.py): one entry per model, values kept whole."""

from __future__ import annotations

from avel.app.outputs import DatasetOutputs, LocalizeOutputs


def test_a_list_field_gives_one_entry_per_model_and_a_table_stays_one_value() -> None:
    rows = [["0-1", "Bark 0.9"], ["1-2", "Bark 0.8"]]  # one component's value, a list itself
    outputs = LocalizeOutputs(
        summary="sum",
        timeline="tl",
        heatmaps=["h0", "h1"],
        captions=["c0", "c1"],
        overlay_videos=[None, None],
        tables=[rows, rows],
        tags=rows,
        placement=None,
        downloads=None,
        second_image=None,
        second_text="",
        span_start=0,
        span_end=10,
    )
    flat = outputs.flat()
    assert flat == [
        "sum",
        "tl",
        "h0",
        "h1",
        "c0",
        "c1",
        None,
        None,
        rows,
        rows,
        rows,
        None,
        None,
        None,
        "",
        0,
        10,
    ]
    dataset = DatasetOutputs("t", ["a", "b"], "p", "an", "at", "ts", "note", rows)
    assert dataset.flat() == ["t", "a", "b", "p", "an", "at", "ts", "note", rows]
