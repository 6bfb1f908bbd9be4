"""Score models on real footage: a folder of clips and a labels.csv of what happens in each.

The composite benchmark's own numbers say how well a model reads composites; people upload real
video. This scores the same per-second answers `localize` gives (ClipAnalysis.to_json) against
coarse real labels, with the two questions a user asks:

- of the seconds where a class the models know is happening, how many are labelled with it
  ("known seconds right");
- of the seconds where some *other* event is happening (a harp, a lawn mower), how many are
  claimed as a trained class with probability >= `claim_probability` ("other seconds claimed").

labels.csv has one row per clip: `file`, `label` (an AVE class name, or `none` for an event of
another kind), and optionally `event_start`/`event_end` in seconds (empty: the whole clip).
A second counts as an event second when its middle lies in [event_start, event_end).
"""

from __future__ import annotations

import csv
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from avel.analysis.clip import Analyzer
from avel.analysis.localize import localize_cached
from avel.common.classes import AVE_CLASSES, UNKNOWN, UNSURE
from avel.common.config import LocalizeConfig
from avel.features.extractor import file_sha256
from avel.training.checkpoint import read_checkpoint, save_checkpoint

LABELS_FILE = "labels.csv"
OTHER = "none"  # labels.csv: an event of a class the models were not trained on
CLAIM_PROBABILITY = 0.5  # a named trained class at this probability or more counts as a claim
NOT_EVENTS = ("background", UNKNOWN, UNSURE)  # answers that name no trained event


@dataclass(frozen=True)
class RealClip:
    """One labelled real clip: its event class (or OTHER) and the event's span in seconds."""

    file: str
    label: str
    start: float | None  # None: from the clip's start
    end: float | None  # None: to the clip's end

    @property
    def known(self) -> bool:
        return self.label != OTHER

    def event_seconds(self, num_seconds: int) -> list[int]:
        """The whole seconds whose middle lies inside the event span."""
        start = 0.0 if self.start is None else self.start
        end = math.inf if self.end is None else self.end
        return [t for t in range(num_seconds) if start <= t + 0.5 < end]


@dataclass(frozen=True)
class ClipScore:
    """One model on one clip: event seconds, how many it labelled right, how many it claimed."""

    file: str
    label: str
    seconds: int  # event seconds scored
    right: int  # known clip: labelled with the true class (answered)
    claimed: int  # seconds named as a trained event at >= CLAIM_PROBABILITY
    unsure: int  # seconds marked "unsure between trained classes"
    not_known: int  # seconds marked "not a known event"
    answers: str  # the labels given, run-length coded, for reading at a glance

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _number(text: str, where: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a time in seconds or nothing, got {text!r}") from None


def read_labels(folder: str | Path) -> list[RealClip]:
    """The clips listed in `folder`/labels.csv; classes must be AVE's names or `none`."""
    path = Path(folder) / LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{Path(folder).name}: no {LABELS_FILE} beside the clips")
    clips = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{LABELS_FILE} line {row_number}"
            if not row.get("file") or not row.get("label"):
                raise ValueError(f"{where}: every row needs a file and a label")
            if row["label"] != OTHER and row["label"] not in AVE_CLASSES:
                raise ValueError(f"{where}: {row['label']!r} is neither an AVE class nor {OTHER!r}")
            start = _number(row.get("event_start") or "", where)
            end = _number(row.get("event_end") or "", where)
            clips.append(RealClip(row["file"], row["label"], start, end))
    if not clips:
        raise ValueError(f"{LABELS_FILE}: no clips listed")
    return clips


def clips_digest(folder: str | Path) -> str:
    """SHA-256 over labels.csv and the bytes of every clip it lists: the identity of a real-clip
    set, so a score stored beside a run (the report's ledger) is reused only for the same clips
    and labels, whatever the folder is called on this machine."""
    folder = Path(folder)
    digest = hashlib.sha256((folder / LABELS_FILE).read_bytes())
    for clip in read_labels(folder):
        digest.update(f"\0{clip.file}\0{file_sha256(folder / clip.file)}".encode())
    return digest.hexdigest()


def _run_length(labels: list[str]) -> str:
    runs: list[list[Any]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return ", ".join(f"{label} x{n}" for label, n in runs)


def score_clip(clip: RealClip, model: dict[str, Any]) -> ClipScore:
    """Score one model's `seconds` (from ClipAnalysis.to_json()["models"][name]) on `clip`."""
    seconds = model["seconds"]
    scored = [seconds[t] for t in clip.event_seconds(len(seconds))]
    claimed = [s for s in scored if s["label"] not in NOT_EVENTS and s["probability"] >= CLAIM_PROBABILITY]
    return ClipScore(
        file=clip.file,
        label=clip.label,
        seconds=len(scored),
        right=sum(s["label"] == clip.label for s in scored) if clip.known else 0,
        claimed=len(claimed),
        unsure=sum(s["label"] == UNSURE for s in scored),
        not_known=sum(s["label"] == UNKNOWN for s in scored),
        answers=_run_length([s["label"] for s in scored]),
    )


@dataclass(frozen=True)
class ModelScore:
    """One model over the folder: the two headline shares, the clips behind them, and how often
    the model commits at all on the known seconds (`known_named`).

    "Right" takes the model's label at any probability while "claimed" needs p >= 0.5, so a model
    whose probabilities are low everywhere scores well on both. `known_named` puts the claim test
    on the known seconds: a low claim rate means little when the model names few known seconds
    at that probability either."""

    known_seconds: int
    known_right: int
    known_named: int  # known-class event seconds named as a trained class at >= CLAIM_PROBABILITY
    other_seconds: int
    other_claimed: int
    clips: list[ClipScore]

    @property
    def known_accuracy(self) -> float:
        return self.known_right / max(self.known_seconds, 1)

    @property
    def known_named_rate(self) -> float:
        return self.known_named / max(self.known_seconds, 1)

    @property
    def other_claim_rate(self) -> float:
        return self.other_claimed / max(self.other_seconds, 1)

    @classmethod
    def of(cls, clips: list[ClipScore]) -> ModelScore:
        known = [c for c in clips if c.label != OTHER]
        other = [c for c in clips if c.label == OTHER]
        return cls(
            known_seconds=sum(c.seconds for c in known),
            known_right=sum(c.right for c in known),
            known_named=sum(c.claimed for c in known),
            other_seconds=sum(c.seconds for c in other),
            other_claimed=sum(c.claimed for c in other),
            clips=clips,
        )

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ModelScore:
        """The score `to_dict` wrote (a ledger record, a checkpoint's), rebuilt from its clips, so
        a figure added since it was written is there too."""
        return cls.of([ClipScore(**clip) for clip in record["clips"]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "known_seconds": self.known_seconds,
            "known_right": self.known_right,
            "known_accuracy": round(self.known_accuracy, 4),
            "known_named": self.known_named,
            "known_named_rate": round(self.known_named_rate, 4),
            "other_seconds": self.other_seconds,
            "other_claimed": self.other_claimed,
            "other_claim_rate": round(self.other_claim_rate, 4),
            # how the abstention rule splits: "not a known event" should fire on other events, not known ones
            "known_not_known": sum(c.not_known for c in self.clips if c.label != OTHER),
            "other_not_known": sum(c.not_known for c in self.clips if c.label == OTHER),
            "known_unsure": sum(c.unsure for c in self.clips if c.label != OTHER),
            "other_unsure": sum(c.unsure for c in self.clips if c.label == OTHER),
            "num_clips": len(self.clips),
            "clips": [c.to_dict() for c in self.clips],
        }


def score_folder(
    analyzer: Analyzer, folder: str | Path, cache: Path | None = None
) -> tuple[list[RealClip], dict[str, ModelScore]]:
    """Localize every clip listed in `folder`/labels.csv with `analyzer`'s models and score them.

    `cache` keeps each clip's result (localize_cached), so a rerun is instant."""
    folder = Path(folder)
    clips = read_labels(folder)
    missing = [c.file for c in clips if not (folder / c.file).is_file()]
    if missing:
        raise FileNotFoundError(f"labels.csv lists clips that are not in {folder.name}: {missing}")
    results = {
        clip.file: localize_cached(analyzer, folder / clip.file, LocalizeConfig(), cache, False)
        for clip in tqdm(clips, desc="score", unit="clip", file=sys.stderr)
    }
    return clips, score_results(clips, results)


def store_score(checkpoint: Path, folder: str, score: ModelScore) -> None:
    """Write the headline figures into the checkpoint ("real_footage"), in place and atomically,
    so the app can state them without the clips; weights and metrics are untouched."""
    record = read_checkpoint(checkpoint)
    record["real_footage"] = {
        "folder": folder,
        "clips": len(score.clips),
        "known_clips": sum(c.label != OTHER for c in score.clips),
        **{k: v for k, v in score.to_dict().items() if k not in ("clips", "num_clips")},
    }
    save_checkpoint(record, checkpoint)


def score_results(clips: list[RealClip], results: dict[str, dict[str, Any]]) -> dict[str, ModelScore]:
    """Per model: the scores of every clip, from `results` (file name -> ClipAnalysis.to_json())."""
    names = next(iter(results.values()))["models"].keys() if results else ()
    return {
        name: ModelScore.of(
            [score_clip(c, results[c.file]["models"][name]) for c in clips if c.file in results]
        )
        for name in names
    }
