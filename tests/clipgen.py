"""Test clips with known per-second content, for the media tests and any test that needs a real file.

Second t of a clip shows the flat colour `colour(t)` and sounds a sine of `tone_freq(t)` Hz, so a
decoder can be checked segment by segment (mean colour, FFT peak). Most clips go through
`avel.features.media.write_clip`; variable frame rate, odd sizes and rotation metadata need control of the
timestamps, pixel format or display matrix, so `write_timed_video` uses PyAV directly.

Import from a test with `from clipgen import make_clip` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from avel.features.media import write_clip

# Saturated, well separated colours: H.264 at crf 23 keeps flat areas within a few levels.
COLOURS = (
    (220, 40, 40),
    (40, 200, 60),
    (40, 70, 220),
    (230, 210, 40),
    (200, 50, 200),
    (40, 200, 210),
    (240, 240, 240),
    (20, 20, 20),
    (240, 130, 30),
    (120, 60, 20),
)
RED, BLUE = (220, 40, 40), (40, 70, 220)


def colour(second: int) -> tuple[int, int, int]:
    """The flat RGB colour shown during whole second `second`."""
    return COLOURS[second % len(COLOURS)]


def tone_freq(second: int) -> float:
    """The sine frequency (Hz) heard during whole second `second`: 300..1650 Hz, below 4 kHz (8-kHz audio)."""
    return 300.0 + 150.0 * (second % 10)


@dataclass
class ClipSpec:
    """What was written, to compare against what is decoded."""

    path: Path
    duration: float  # seconds of video written
    colours: list[tuple[int, int, int]]  # per whole second
    freqs: list[float | None]  # per whole second; None = silent
    amplitude: float  # peak of the tone before channel gains


def make_clip(
    path: str | Path,
    seconds: float = 3.0,
    *,
    fps: int = 8,
    size: tuple[int, int] = (64, 48),
    sample_rate: int = 16000,
    channel_gains: Sequence[float] = (1.0,),
    silent: Sequence[int] = (),
    audio: bool = True,
    amplitude: float = 0.5,
    video_codec: str = "h264",
    audio_codec: str = "aac",
) -> ClipSpec:
    """A clip of `seconds` s: colour(t) frames and tone_freq(t) sine per second, via write_clip.

    `size` is (width, height). Channel c carries gain channel_gains[c] * the tone (1, 2 or 6
    channels); seconds listed in `silent` are digital silence; audio=False writes no audio stream.
    """
    path = Path(path)
    width, height = size
    num_frames = round(seconds * fps)
    frames = (np.full((height, width, 3), colour(int(i / fps)), np.uint8) for i in range(num_frames))
    whole = math.ceil(seconds)  # seconds touched, incl. a partial last one
    freqs = [None if t in silent else tone_freq(t) for t in range(whole)]
    signal = None
    if audio:
        n = round(seconds * sample_rate)
        times = np.arange(n) / sample_rate
        second_of = times.astype(int)  # (n,) whole second of each sample
        per_second = np.array([f or 0.0 for f in freqs])
        mono = amplitude * np.sin(2 * np.pi * per_second[second_of] * times)  # 0 Hz: silence
        signal = (np.asarray(channel_gains)[:, None] * mono[None]).astype(np.float32)  # (C, n)
    write_clip(path, frames, fps, signal, sample_rate, video_codec=video_codec, audio_codec=audio_codec)
    return ClipSpec(path, num_frames / fps, [colour(t) for t in range(whole)], freqs, amplitude)


_FORMATS = {  # suffix -> muxer
    ".mp4": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}


class _Unseekable:
    """A write-only sink without seek(): muxers cannot go back to fill in headers."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink

    def write(self, data: bytes) -> int:
        return self.sink.write(data)


def write_timed_video(
    path: str | Path,
    frames: Sequence[np.ndarray],
    times: Sequence[float],
    end: float,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    streamed: bool = False,
) -> None:
    """Video only, frame i shown from times[i] (s) on: any frame rate, odd sizes, rotation metadata.

    The last frame is repeated at `end` so the stream lasts past `end` (a last frame's own
    duration is only guessed by the muxer); no sample instant before `end` shows the repeat.

    `rotation` is the display rotation in degrees counter-clockwise, as FFmpeg's display matrix
    reads back (ffprobe "rotation of -90.00 degrees" for a portrait phone video, whose stored
    landscape picture a player turns 90 degrees clockwise). libx264 needs yuv444p for odd sizes.
    streamed=True writes through a non-seekable sink, as a browser's MediaRecorder does: Matroska
    then has no duration header, so the decoder must find T by decoding.
    """
    height, width = frames[0].shape[:2]
    time_base = Fraction(1, 1000)  # ms timestamps: irregular gaps are representable
    container_format = _FORMATS[Path(path).suffix]  # a file object carries no name to guess from
    with (
        open(path, "wb") as sink,
        av.open(_Unseekable(sink) if streamed else sink, "w", container_format) as out,
    ):
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for arr, t in zip([*frames, frames[-1]], [*times, end], strict=True):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_vfr_clip(path: str | Path, seconds: int = 3) -> list[tuple[float, tuple[int, int, int]]]:
    """Variable frame rate: each second t shows colour(2t) from t and colour(2t + 1) from t + 0.6 s.

    Returns the schedule [(start time, colour)] so a test can derive which frame is displayed
    at any instant (the last one starting at or before it).
    """
    schedule = [
        (t + offset, colour(2 * t + half)) for t in range(seconds) for half, offset in enumerate((0.0, 0.6))
    ]
    frames = [np.full((48, 64, 3), c, np.uint8) for _, c in schedule]
    times = [start for start, _ in schedule]
    write_timed_video(path, frames, times, end=seconds)
    return schedule


def split_frame(
    width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> np.ndarray:
    """(height, width, 3) uint8: top half one colour, bottom half the other."""
    arr = np.empty((height, width, 3), np.uint8)
    arr[: height // 2], arr[height // 2 :] = top, bottom
    return arr


def make_rotated_clip(path: str | Path, rotation: int, seconds: int = 2) -> None:
    """A clip that *displays* RED on top and BLUE at the bottom (64 wide, 48 high once rotated).

    The stored picture is the upright one turned by -rotation, as a phone stores it; only a
    decoder that applies the display matrix sees RED on top.
    """
    upright = split_frame(64, 48, RED, BLUE)
    stored = np.ascontiguousarray(np.rot90(upright, k=-rotation // 90))
    write_timed_video(path, [stored], [0.0], end=seconds, rotation=rotation)


def make_odd_size_clip(path: str | Path, width: int = 97, height: int = 61, seconds: int = 2) -> None:
    """Odd width and height (H.264 4:4:4, which allows them): RED top half, BLUE bottom half."""
    frame = split_frame(width, height, RED, BLUE)
    write_timed_video(path, [frame], [0.0], end=seconds, pix_fmt="yuv444p")


def make_audio_only(path: str | Path, seconds: float = 2.0, sample_rate: int = 16000) -> None:
    """An audio-only file (e.g. .m4a): a 440-Hz AAC tone, no video stream."""
    signal = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(round(seconds * sample_rate)) / sample_rate))[None]
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("aac", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(signal.astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
