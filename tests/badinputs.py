"""A bad-input corpus: odd or broken media and checkpoints, each with what a correct answer looks like.

Every `Case` writes one input into a folder and says what must come of it: an error whose message
matches `error` (one line, naming the user's file), or an analysis of `seconds` seconds whose
warnings include `warning`. `judge` runs a case through any road (the Python API, the app, the CLI)
and sorts the outcome into the summary's counts:

- crash: an exception other than the clear refusal the road promises (MediaError / ValueError,
  or gr.Error in the app), i.e. a traceback for the user;
- hang: the road took longer than `HANG_S`;
- silent-wrong: an answer where a refusal was due, other seconds than the file has, a second with
  no score (shown "unknown" at probability 0), or a warning that went missing;
- unclear: a refusal that does not name the file, runs over more than one line, shows a server
  folder, or does not say what is wrong (`error`).

tests/test_robust.py runs the small corpus in CI; benchmarks/bad_inputs.py runs it through the
API, the app and the CLI and prints the counts.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from clipgen import colour, make_audio_only, make_clip, make_odd_size_clip, make_rotated_clip, make_vfr_clip
from PIL import Image

from avel.features.media import write_clip

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000
HANG_S = 120.0  # far above any case's time on a 2-core CPU; the decoders' own guard is 300 s
OUTCOMES = ("ok", "crash", "hang", "silent-wrong", "unclear")
Make = Callable[[Path], Path]


@dataclass(frozen=True)
class Case:
    """One input and its correct outcome (`error` for a refusal, else `seconds` and `warning`)."""

    name: str  # the input's file name, as the user would give it
    kind: str  # what is odd about it
    make: Make
    error: str | None = None  # a refusal's message must match this (regex)
    seconds: int | None = None  # an analysis must give exactly these seconds
    warning: str | None = None  # and carry this warning
    long_road: bool = False  # analysed window by window (the long-clip road) where a road can choose
    in_ci: bool = True  # tests/test_robust.py runs it too (the benchmark runs every case)
    target: str = "media"  # "media" (a clip) or "checkpoint"


@dataclass
class Verdict:
    case: Case
    outcome: str  # one of OUTCOMES
    detail: str
    seconds: float


@dataclass
class Summary:
    """The counts the benchmark prints; every count but `tried` must be zero."""

    tried: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES[1:], 0))
    problems: list[Verdict] = field(default_factory=list)

    def add(self, verdict: Verdict) -> None:
        self.tried += 1
        if verdict.outcome != "ok":
            self.counts[verdict.outcome] += 1
            self.problems.append(verdict)

    def line(self, road: str) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        return f"{road}: inputs tried {self.tried}, {counts}"


# ---------------------------------------------------------------------------------- the inputs


def _bytes(name: str, data: bytes) -> Make:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


def _tracks(name: str, video_s: float, audio_s: float | None, fps: int = 2) -> Make:
    """Video of `video_s` s (a colour per second) over `audio_s` s of tone (None: no audio track)."""

    def make(folder: Path) -> Path:
        frames = np.stack(
            [np.full((48, 64, 3), colour(i // fps), np.uint8) for i in range(round(video_s * fps))]
        )
        tone = None
        if audio_s is not None:
            tone = (0.5 * np.sin(2 * np.pi * 600 * np.arange(round(audio_s * RATE)) / RATE)).astype(
                np.float32
            )
        write_clip(folder / name, frames, fps, tone, RATE)
        return folder / name

    return make


def _clip(name: str, **kwargs: Any) -> Make:
    def make(folder: Path) -> Path:
        return make_clip(folder / name, **kwargs).path

    return make


def _with(name: str, writer: Callable[[Path], Any]) -> Make:
    def make(folder: Path) -> Path:
        writer(folder / name)
        return folder / name

    return make


def _cut(name: str, keep: float) -> Make:
    """The first `keep` of a 3-s clip's bytes: a download cut short."""

    def make(folder: Path) -> Path:
        whole = make_clip(folder / f"whole-{name}", 3.0, fps=4).path
        data = whole.read_bytes()
        whole.unlink()
        (folder / name).write_bytes(data[: int(len(data) * keep)])
        return folder / name

    return make


def _image(name: str) -> Make:
    def make(folder: Path) -> Path:
        Image.fromarray(np.full((32, 48, 3), 200, np.uint8)).save(folder / name)
        return folder / name

    return make


def _folder(name: str) -> Make:
    def make(folder: Path) -> Path:
        (folder / name).mkdir()
        return folder / name

    return make


def _missing(name: str) -> Make:
    return lambda folder: folder / name


NOT_MEDIA = r"not a readable audio/video file|no video stream|not a video"
NO_AUDIO = "no audio track"
SHORT_AUDIO = r"audio track is [\d.]+ s shorter"
SHORT_VIDEO = r"video track ends at"


# Analysed cases cost seconds each: CI runs the refusals and these (the other odd tracks have tests
# of their own in tests/test_robust.py and tests/test_media.py); the benchmark runs them all.
CI_ANALYSED = ("silent.mp4",)


def media_cases() -> list[Case]:
    """The clip corpus: small files (a few seconds at 2-8 fps), every kind of the issue and more."""
    return [replace(case, in_ci=case.error is not None or case.name in CI_ANALYSED) for case in _media()]


def _media() -> list[Case]:
    return [
        Case("empty.mp4", "0 bytes", _bytes("empty.mp4", b""), error="empty file"),
        Case("notes.mp4", "text named .mp4", _bytes("notes.mp4", b"just some text\n" * 50), error=NOT_MEDIA),
        Case(
            "noise.mp4",
            "random bytes",
            _bytes("noise.mp4", np.random.default_rng(0).bytes(4096)),
            error=NOT_MEDIA,
        ),
        Case("photo.png", "a still picture", _image("photo.png"), error="not a video"),
        Case("photo.jpg", "a still picture", _image("photo.jpg"), error="not a video"),
        Case("voice.m4a", "audio only", _with("voice.m4a", make_audio_only), error="no video stream"),
        Case("blink.mp4", "under one second", _clip("blink.mp4", seconds=0.5, fps=8), error="at least 1 s"),
        Case("cut.mp4", "download cut short", _cut("cut.mp4", 0.4), error=r"truncated|corrupt|no decodable"),
        Case(
            "clips.mp4",
            "a folder",
            _folder("clips.mp4"),
            error="not a regular file|a folder without video files",
        ),
        Case("gone.mp4", "no such file", _missing("gone.mp4"), error="no such file"),
        Case("silent.mp4", "no audio track", _tracks("silent.mp4", 3, None), seconds=3, warning=NO_AUDIO),
        Case("quiet.mp4", "audio shorter", _tracks("quiet.mp4", 4, 2), seconds=4, warning=SHORT_AUDIO),
        Case("frozen.mp4", "video ends early", _tracks("frozen.mp4", 3, 8), seconds=3, warning=SHORT_VIDEO),
        Case(
            "frozen-long.mp4",
            "video ends early, long road",
            _tracks("frozen-long.mp4", 6, 12),
            seconds=6,
            warning=SHORT_VIDEO,
            long_road=True,
        ),
        Case(
            "silent-long.mp4",
            "no audio track, long road",
            _tracks("silent-long.mp4", 7, None),
            seconds=7,
            warning=NO_AUDIO,
            long_road=True,
        ),
        Case(
            "quiet-long.mp4",
            "audio shorter, long road",
            _tracks("quiet-long.mp4", 7, 3),
            seconds=7,
            warning=SHORT_AUDIO,
            long_road=True,
        ),
        Case("odd.mp4", "odd frame size", _with("odd.mp4", make_odd_size_clip), seconds=2),
        Case(
            "portrait.mp4",
            "rotation metadata",
            _with("portrait.mp4", lambda p: make_rotated_clip(p, 90)),
            seconds=2,
        ),
        Case("vfr.mkv", "variable frame rate", _with("vfr.mkv", make_vfr_clip), seconds=3),
        Case(
            "stereo.webm",
            "VP9/Opus stereo 48 kHz",
            _clip(
                "stereo.webm",
                seconds=2,
                channel_gains=(1.0, 0.5),
                sample_rate=48_000,
                video_codec="vp9",
                audio_codec="libopus",
            ),
            seconds=2,
        ),
    ]


def _checkpoint(name: str, change: Callable[[dict[str, Any], Path], None]) -> Make:
    """The bundled co-attention checkpoint (and its projection beside it), with `change` applied."""

    def make(folder: Path) -> Path:
        checkpoint = torch.load(ROOT / "checkpoints" / "coatt_sel.pt", map_location="cpu", weights_only=True)
        shutil.copyfile(ROOT / "checkpoints" / "projection.pt", folder / "projection.pt")
        change(checkpoint, folder)
        torch.save(checkpoint, folder / name)
        return folder / name

    return make


def _projection_at(where: Callable[[Path], str]) -> Callable[[dict[str, Any], Path], None]:
    def change(checkpoint: dict[str, Any], folder: Path) -> None:
        checkpoint["features"]["projection_file"] = where(folder)

    return change


def _corrupt_projection(checkpoint: dict[str, Any], folder: Path) -> None:
    (folder / "projection.pt").write_bytes(b"PK\x03\x04 not really a zip" * 10)


def _file(name: str, data: Callable[[Path], bytes]) -> Make:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data(folder))
        return folder / name

    return make


def checkpoint_cases() -> list[Case]:
    """Checkpoints that point outside their folder, or are broken: each a one-line refusal."""
    beside = r"must name a file beside it"
    return [
        Case(
            "abs.pt",
            "projection named by absolute path",
            _checkpoint("abs.pt", _projection_at(lambda d: str(d / "projection.pt"))),
            error=beside,
            target="checkpoint",
        ),
        Case(
            "up.pt",
            "projection in the parent folder",
            _checkpoint("up.pt", _projection_at(lambda d: "../projection.pt")),
            error=beside,
            target="checkpoint",
        ),
        Case(
            "sub.pt",
            "projection in a sub-folder",
            _checkpoint("sub.pt", _projection_at(lambda d: "sub/projection.pt")),
            error=beside,
            target="checkpoint",
        ),
        Case(
            "other.pt",
            "projection named by a number",
            _checkpoint("other.pt", _projection_at(lambda d: 7)),
            error=beside,
            target="checkpoint",
        ),  # type: ignore[arg-type, return-value]
        Case(
            "garbled.pt",
            "corrupt projection beside it",
            _checkpoint("garbled.pt", _corrupt_projection),
            error="projection.pt is not readable",
            target="checkpoint",
        ),
        Case(
            "noise.pt",
            "random bytes",
            _file("noise.pt", lambda d: np.random.default_rng(1).bytes(2048)),
            error="cannot read it",
            target="checkpoint",
        ),
        Case(
            "half.pt",
            "checkpoint cut short",
            _file("half.pt", lambda d: (ROOT / "checkpoints" / "baseline_sel.pt").read_bytes()[:5000]),
            error="cannot read it",
            target="checkpoint",
        ),
    ]


# ---------------------------------------------------------------------------------- judging


def judge(
    case: Case,
    path: Path,
    run: Callable[[Path], dict[str, Any]],
    refusals: tuple[type, ...],
    hidden: list[Path],
) -> Verdict:
    """Run one case through a road (`run`: the result JSON, or raises one of `refusals`)."""
    started = time.perf_counter()
    try:
        result = run(path)
    except refusals as err:
        return _refused(case, path, _message(err), time.perf_counter() - started, hidden)
    except Exception as err:  # a crash is what the corpus looks for
        return Verdict(case, "crash", f"{type(err).__name__}: {err}", time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    if elapsed > HANG_S:
        return Verdict(case, "hang", f"{elapsed:.0f} s", elapsed)
    return _answered(case, result, elapsed)


def _message(err: Exception) -> str:
    return str(getattr(err, "message", None) or err)


def _refused(case: Case, path: Path, message: str, elapsed: float, hidden: list[Path]) -> Verdict:
    if elapsed > HANG_S:
        return Verdict(case, "hang", f"{elapsed:.0f} s", elapsed)
    if case.error is None:
        return Verdict(case, "unclear", f"refused an analysable file: {message}", elapsed)
    shown = [str(folder) for folder in hidden if str(folder) in message.replace(str(path), path.name)]
    if path.name not in message or "\n" in message.strip() or shown or not re.search(case.error, message):
        return Verdict(case, "unclear", message, elapsed)
    return Verdict(case, "ok", message, elapsed)


def _answered(case: Case, result: dict[str, Any], elapsed: float) -> Verdict:
    if case.error is not None:
        return Verdict(
            case, "silent-wrong", f"analysed ({result.get('seconds')} s), expected: {case.error}", elapsed
        )
    if result["seconds"] != case.seconds:
        return Verdict(case, "silent-wrong", f"{result['seconds']} s, the file has {case.seconds}", elapsed)
    for name, model in result.get("models", {}).items():
        unscored = [
            s["start"] for s in model["seconds"] if not math.fsum(t["probability"] for t in s["top3"]) > 0
        ]
        if unscored:
            return Verdict(case, "silent-wrong", f"{name}: seconds {unscored} have no score", elapsed)
    warnings = " | ".join(result.get("warnings", []))
    if case.warning is not None and not re.search(case.warning, warnings):
        return Verdict(case, "silent-wrong", f"warning {case.warning!r} missing (got {warnings!r})", elapsed)
    return Verdict(case, "ok", warnings, elapsed)
