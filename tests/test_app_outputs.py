"""Each tab's outputs are named once (avel/app/outputs.py): one entry per model, values kept whole."""

from __future__ import annotations

from avel.app.outputs import DatasetOutputs, LocalizeOutputs


def test_a_list_field_gives_one_entry_per_model_and_a_table_stays_one_value() -> None:
    rows = [["0-1", "Bark 0.9"], ["1-2", "Bark 0.8"]]  # one component's value, a list itself
    outputs = LocalizeOutputs(
        "sum", "tl", ["h0", "h1"], ["c0", "c1"], [None, None], [rows, rows], rows, None, 0, 10
    )
    flat = outputs.flat()
    assert flat == ["sum", "tl", "h0", "h1", "c0", "c1", None, None, rows, rows, rows, None, 0, 10]
    assert DatasetOutputs("t", ["a", "b"], "p", "ts", rows).flat() == ["t", "a", "b", "p", "ts", rows]
