"""`python -m avel score-clips`: real clips scored against a labels.csv (avel/analysis/realdev.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from clipgen import make_clip

from avel.analysis.localize import default_models
from avel.analysis.realdev import ModelScore, RealClip, read_labels, score_clip, score_results
from avel.app.views import known_classes_text
from avel.commands import main
from avel.common.classes import UNKNOWN_TEXT, UNSURE_TEXT
from avel.training.checkpoint import load_checkpoint


def _model(labels: list[str], probability: float = 0.9) -> dict[str, Any]:
    """A model's `seconds` as ClipAnalysis.to_json() writes them."""
    return {"seconds": [{"label": x, "probability": probability} for x in labels]}


def test_event_seconds_are_those_whose_middle_is_in_the_span() -> None:
    assert RealClip("a.mp4", "Bark", 0.0, 2.5).event_seconds(4) == [0, 1]
    assert RealClip("a.mp4", "Bark", 1.6, None).event_seconds(4) == [2, 3]
    assert RealClip("a.mp4", "none", None, None).event_seconds(3) == [0, 1, 2]


def test_known_clips_count_right_seconds_and_other_clips_count_claims() -> None:
    known = score_clip(RealClip("k.mp4", "Bark", 1.0, 3.0), _model(["Cat", "Bark", "Cat", "Bark"]))
    assert (known.seconds, known.right) == (2, 1)  # seconds 1, 2; the Bark at 3 is outside the span
    other = RealClip("o.mp4", "none", None, None)
    claims = score_clip(other, _model(["Banjo", "background", "unknown", "Flute", "unsure"]))
    assert (claims.seconds, claims.right, claims.claimed) == (5, 0, 2)  # abstentions are no claims
    assert (claims.not_known, claims.unsure) == (1, 1)
    unsure = score_clip(other, _model(["Banjo", "Flute"], probability=0.49))
    assert unsure.claimed == 0  # named below CLAIM_PROBABILITY: not a claim
    scores = score_results(
        [RealClip("k.mp4", "Bark", None, None), other],
        {
            "k.mp4": {"models": {"M": _model(["Bark", "Bark", "Cat"])}},
            "o.mp4": {"models": {"M": _model(["Banjo", "background"])}},
        },
    )["M"]
    assert (scores.known_right, scores.known_seconds) == (2, 3)
    assert (scores.other_claimed, scores.other_seconds) == (1, 2)
    assert scores.known_named == 3  # Bark, Bark, Cat at 0.9: named whether right or not
    timid = score_results(  # right at a low probability: counted right, not named
        [RealClip("k.mp4", "Bark", None, None)], {"k.mp4": {"models": {"M": _model(["Bark", "Bark"], 0.3)}}}
    )["M"]
    assert (timid.known_right, timid.known_named, timid.known_named_rate) == (2, 0, 0.0)
    stored = scores.to_dict()
    del stored["known_named"]  # a score stored before the figure existed
    assert ModelScore.from_dict(stored) == scores


def test_labels_csv_errors_name_the_row(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,label,event_start,event_end\na.mp4,Barking,,\n")
    with pytest.raises(ValueError, match=r"line 2.*'Barking'"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label,event_start,event_end\na.mp4,Bark,one,\n")
    with pytest.raises(ValueError, match="line 2: expected a time"):
        read_labels(tmp_path)


def test_score_clips_runs_the_bundled_models_on_a_folder(tmp_path: Path, capsys) -> None:
    make_clip(tmp_path / "tone.mp4", seconds=3.0)
    make_clip(tmp_path / "short.mp4", seconds=2.0)
    (tmp_path / "labels.csv").write_text(
        "file,label,event_start,event_end\ntone.mp4,Bark,1,3\nshort.mp4,none,,\n"
    )
    out = tmp_path / "scores.json"
    bundled = default_models()
    copies = {name: tmp_path / path.name for name, path in bundled.items()}
    for name, copy in copies.items():
        shutil.copyfile(bundled[name], copy)
    projection = next(iter(bundled.values())).with_name("projection.pt")  # the checkpoints' PCA
    shutil.copyfile(projection, tmp_path / "projection.pt")
    named = [arg for name, copy in copies.items() for arg in ("--checkpoint", f"{name}={copy}")]
    assert main(["score-clips", str(tmp_path), "--out", str(out), "--store", *named]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    for name in ("Co-attention", "Baseline"):
        model = record["models"][name]
        assert (model["known_seconds"], model["other_seconds"], model["num_clips"]) == (2, 2, 2)
        assert f"{name}: known-class event seconds right {model['known_right']}/2" in printed
        stored = load_checkpoint(copies[name]).real_footage  # what the app states
        assert stored["clips"] == 2 and stored["known_clips"] == 1
        assert stored["known_accuracy"] == model["known_accuracy"] and stored["folder"] == tmp_path.name
    (tmp_path / "labels.csv").write_text("file,label\nmissing.mp4,Bark\n")
    with pytest.raises(SystemExit):
        main(["score-clips", str(tmp_path)])
    assert "missing.mp4" in capsys.readouterr().err


def test_the_page_states_what_the_models_know_and_how_they_do_on_real_clips() -> None:
    record = {
        "folder": "realdev",
        "clips": 21,
        "known_clips": 9,
        "known_accuracy": 0.783,
        "other_claim_rate": 0.185,
    }
    text = known_classes_text(("Bark", "Cat"), {"M": None}, {"M": record})
    assert "2 event classes" in text and "on 21 real clips (realdev, 9 of known classes)" in text
    assert "M labels 78% of the seconds of known events right" in text and "on 18% of the seconds" in text
    assert UNSURE_TEXT in text and UNKNOWN_TEXT in text
    assert "real clips" not in known_classes_text(("Bark",), {"M": None}, {"M": None})  # never scored
