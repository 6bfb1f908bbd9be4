"""Decode a clip into per-second frames and 16 kHz mono audio, and encode clips, with PyAV.

Sampling follows the AVE recipe (docs/ave-format.md): a clip of T whole seconds gives T segments;
segment t holds K frames, frame k being the one *displayed* at t + (k + 0.5) / K, and the audio of
[t, t + 1) as mono float32 at FeatureConfig.sample_rate.

Resize choice: every frame is resized directly to S x S (no crop, no letterbox). A centre crop would
drop objects near the left/right edges of wide video, and letterbox bars would waste backbone
positions on black; a direct resize keeps the whole picture, so a spatial attention map over the
S x S frame overlays 1:1 on the original frame after resizing back to its size. The aspect
distortion is the same for every frame of a clip. Normalisation is left to each backbone.

The file is decoded once, sequentially (seeking is unreliable across containers), keeping only the
T * K sampled frames; decoding is bounded by a timeout and a frame-count guard so a broken or
hostile file ends in a `MediaError`, never a hang.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.stream
import numpy as np

from avel.common.config import FeatureConfig

logger = logging.getLogger(__name__)

# Not in FeatureConfig (shared contract): passed to decode_clip(timeout_s=...) instead.
HEADER_CACHE_ENTRIES = 256  # files whose header seconds are remembered (a few bytes each)
DEFAULT_DECODE_TIMEOUT_S = 300.0  # a 60-s 1080p60 H.264 clip decodes in about a minute on 2 cores
MAX_FRAME_RATE = 1000  # frame-count guard: more decoded frames per second means broken timestamps
TRUNCATION_TOLERANCE_S = 1.0  # video may stop this much before its announced end (VFR, rounding)
AUDIO_GAP_WARN_S = 0.25  # codec padding (AAC/Opus) stays below this; a shorter track is reported
TIME_EPS_S = 1e-3  # timestamps are rounded to ms by many muxers: 9.9995 s counts as 10 whole seconds

_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}  # audio channel count -> layout accepted by write_clip
_CRF_OPTIONS = {  # encoders with a constant-quality mode: crf (b=0 makes libvpx honour crf alone)
    "h264": {},
    "libx264": {},
    "vp9": {"b": "0"},
    "libvpx-vp9": {"b": "0"},
}
_FASTSTART_SUFFIXES = {".mp4", ".mov", ".m4v"}  # index first: browsers can play while downloading


class MediaError(ValueError):
    """A file that cannot be analysed: not media, corrupt, no video, too short or too long."""


@dataclass
class DecodedClip:
    """One clip, segmented into T one-second segments (the model's time axis)."""

    frames: np.ndarray  # (T, K, S, S, 3) uint8 RGB, S = frame_size
    audio: np.ndarray  # (T * sample_rate,) float32 mono in [-1, 1]
    sample_rate: int
    num_segments: int  # T
    duration: float  # seconds, as probed (as decoded when the container does not say)
    has_audio: bool
    warnings: list[str] = field(default_factory=list)


def probe(path: str | Path) -> dict[str, Any]:
    """Describe a media file without decoding it whole; raises MediaError if it cannot be analysed.

    Keys: format, duration (s or None), fps, width, height (as displayed, i.e. after rotation),
    rotation (degrees counter-clockwise that display applies: 0, 90, 180 or 270; a portrait phone
    video, stored landscape and shown turned clockwise, gives 270), video_codec, has_audio, audio_codec,
    audio_sample_rate, audio_channels. The first video frame is decoded, because rotation is
    frame side data in PyAV and because a file whose video cannot be decoded should fail here.
    """
    path = Path(path)
    with _open_input(path) as container:
        vstream = _video_stream(container, path)
        info = _describe(container, vstream)
        try:
            first = next(container.decode(vstream), None)
        except av.FFmpegError as e:
            raise MediaError(f"{path}: cannot decode the video stream ({e})") from e
    if first is None:
        raise MediaError(f"{path}: the video stream holds no decodable frame")
    info["rotation"] = _quarter_turns(first.rotation) * 90
    if info["rotation"] % 180:
        info["width"], info["height"] = info["height"], info["width"]
    return info


def decode_clip(
    path: str | Path, cfg: FeatureConfig | None = None, *, timeout_s: float = DEFAULT_DECODE_TIMEOUT_S
) -> DecodedClip:
    """Decode `path` into T segments of K frames (S x S RGB) and T seconds of mono audio.

    Raises MediaError for unreadable files, files without video, clips under 1 s, clips over
    cfg.max_seconds when cfg.on_too_long == "refuse", and decodes running past `timeout_s`.
    """
    cfg = cfg or FeatureConfig()
    path = Path(path)
    guard = _DecodeGuard(path, timeout_s)
    with _open_input(path) as container:
        try:
            return _decode(container, path, cfg, guard)
        except av.FFmpegError as e:
            raise MediaError(f"{path}: decoding failed, the file is corrupt or truncated ({e})") from e


def clip_seconds(path: str | Path) -> int:
    """Whole seconds of a clip as its container announces them (no decoding); MediaError if unknown.

    Read once per version of a file (its size and mtime): the app's queue decides long vs short
    by it, then analyze_clip decides how to decode by it, and the header is opened once for both.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return _header_seconds(path)  # the clear message for a missing file
    return _cached_header_seconds(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=HEADER_CACHE_ENTRIES)
def _cached_header_seconds(path: str, size: int, mtime_ns: int) -> int:
    del size, mtime_ns  # the cache key only: another version of the file is read again
    return _header_seconds(Path(path))


def _header_seconds(path: Path) -> int:
    with _open_input(path) as container:
        duration = _describe(container, _video_stream(container, path))["duration"]
    if duration is None:
        raise MediaError(f"{path}: the file does not say how long it is; a long clip needs a duration header")
    return _whole_seconds(duration)


def decoded_frames(
    path: str | Path, max_height: int, max_fps: float, seconds: int
) -> tuple[float, Iterator[tuple[float, np.ndarray]]]:
    """(frame rate, frames): the clip's displayed frames as (time from its start in s, RGB array),
    scaled to at most `max_height` rows (aspect kept, even sizes), thinned to at most `max_fps`
    and cut at `seconds`, for a video drawn over the clip itself (the app's overlay videos).
    """
    path = Path(path)
    container = _open_input(path)
    vstream = _video_stream(container, path)
    rate = float(vstream.average_rate or max_fps)
    step = max(1, math.ceil(rate / max_fps - TIME_EPS_S))  # keep every step-th frame
    origin = _origin(container)

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        with container:
            for index, frame in enumerate(container.decode(vstream)):
                when = (frame.time or 0.0) - origin
                if when >= seconds:
                    break
                if index % step:
                    continue
                turns = _quarter_turns(frame.rotation)
                height, width = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)
                scale = min(1.0, max_height / height)
                size = (2 * round(width * scale / 2), 2 * round(height * scale / 2))  # displayed (w, h)
                target = size[::-1] if turns % 2 else size
                image = frame.to_ndarray(width=target[0], height=target[1], format="rgb24")
                yield when, np.rot90(image, turns) if turns else image

    return rate / step, frames()


def decode_window(
    path: str | Path,
    start: int,
    seconds: int,
    cfg: FeatureConfig | None = None,
    *,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
) -> DecodedClip:
    """Seconds [start, start + seconds) of a long clip, decoded as decode_clip decodes a whole one.

    Seeks to the keyframe at or before `start` and runs the same one-pass sampler with its origin
    moved to `start`, so a clip of any length is decoded window by window in bounded memory. The
    last window may be shorter (T = the whole seconds the video still has). Raises MediaError.
    """
    cfg = cfg or FeatureConfig()
    path = Path(path)
    guard = _DecodeGuard(path, timeout_s)
    with _open_input(path) as container:
        try:
            vstream = _video_stream(container, path)
            vstream.thread_type = "AUTO"
            origin = _origin(container)
            if start > 0:  # the keyframe at or before the window: frames before it are only held
                container.seek(int((origin + start) / vstream.time_base), stream=vstream, backward=True)
            sampler, collector = _sample(container, vstream, cfg, guard, origin + start, seconds)
        except av.FFmpegError as e:
            raise MediaError(
                f"{path}: decoding failed at {start} s, the file is corrupt or truncated ({e})"
            ) from e
    num_segments = seconds if sampler.done else min(seconds, _whole_seconds(sampler.end_time))
    if sampler.num_decoded == 0 or num_segments < 1:
        raise MediaError(f"{path}: no video frame from {start} s on")
    audio = np.zeros(num_segments * cfg.sample_rate, np.float32)
    if collector is not None:
        audio, _ = collector.finish(num_segments)
    return DecodedClip(  # no warnings of its own: a long clip's come from its tracks (analysed_span)
        frames=sampler.finish(num_segments),
        audio=audio,
        sample_rate=cfg.sample_rate,
        num_segments=num_segments,
        duration=float(start + num_segments),
        has_audio=collector is not None and collector.num_samples > 0,
    )


def write_clip(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: int,
    audio: np.ndarray | None,
    sample_rate: int = 16000,
    video_codec: str = "h264",
    audio_codec: str = "aac",
    crf: int = 23,
) -> None:
    """Encode RGB frames (N, H, W, 3) uint8 and optional audio into a playable file.

    Video is yuv420p, which needs even sizes: an odd height/width is padded by repeating the last
    row/column (one pixel, so content and overlays stay aligned). `audio` is float32 in [-1, 1],
    mono (n,) or (channels, n) with 1, 2 or 6 channels; None writes no audio stream. `crf` applies
    to H.264 and VP9; other encoders use their default rate control. The container follows the
    suffix (.mp4/.mov get the index first so browsers can stream them).
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"write_clip: fps must be > 0, got {fps}")
    frame_iter = iter(frames)
    first = next(frame_iter, None)
    if first is None:
        raise ValueError(f"write_clip: no frames given for {path}")
    _check_frame(first, 0, first)
    planar = _check_audio(audio) if audio is not None else None
    height, width = first.shape[0] + first.shape[0] % 2, first.shape[1] + first.shape[1] % 2
    options = {"movflags": "+faststart"} if path.suffix.lower() in _FASTSTART_SUFFIXES else {}
    try:
        out = av.open(str(path), mode="w", options=options)
    except ValueError as e:  # FFmpegError included; PyAV raises a bare ValueError for unknown suffixes
        raise ValueError(f"write_clip: cannot create {path} (the suffix picks the container: {e})") from e
    try:
        with out:
            vstream = out.add_stream(video_codec, rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            if video_codec in _CRF_OPTIONS:
                vstream.codec_context.options = {"crf": str(crf), **_CRF_OPTIONS[video_codec]}
            astream = None
            if planar is not None:
                astream = out.add_stream(audio_codec, rate=sample_rate, layout=_LAYOUTS[planar.shape[0]])
            written = 0  # audio samples muxed so far: audio is interleaved with video, second by second
            for i, arr in enumerate(itertools.chain([first], frame_iter)):
                _check_frame(arr, i, first)
                vframe = av.VideoFrame.from_ndarray(_pad_even(arr), format="rgb24")
                vframe.pts = i  # time_base = 1 / fps
                out.mux(vstream.encode(vframe))
                if astream is not None:
                    written = _mux_audio(out, astream, planar, written, round((i + 1) * sample_rate / fps))
            out.mux(vstream.encode(None))
            if astream is not None:
                _mux_audio(out, astream, planar, written, planar.shape[1])
                out.mux(astream.encode(None))
    except (av.FFmpegError, av.codec.codec.UnknownCodecError) as e:
        path.unlink(missing_ok=True)  # never leave a half-written file that looks valid
        raise ValueError(f"write_clip: cannot encode {path} ({video_codec}/{audio_codec}): {e}") from e
    except BaseException:
        path.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- decoding helpers


def _open_input(path: Path) -> av.container.InputContainer:
    """Open `path` for reading, turning every kind of unreadable file into a MediaError."""
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as e:
        raise MediaError(f"{path}: not a readable audio/video file ({e})") from e


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    """The first real video stream; cover art (attached pictures) of audio files does not count."""
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt == "image2":  # png_pipe, jpeg_pipe, ...: FFmpeg reads a picture as video
        raise MediaError(
            f"{path}: a still image ({fmt.removesuffix('_pipe')}), not a video; a video file is required"
        )
    cover = av.stream.Disposition.attached_pic
    streams = [s for s in container.streams.video if not s.disposition & cover]
    if not streams:
        found = ", ".join(
            f"{s.type} (cover art)" if s.disposition & cover else s.type for s in container.streams
        )
        found = found or "no streams"
        raise MediaError(f"{path}: no video stream (found: {found}); a video file is required")
    if streams[0].codec_context is None:
        raise MediaError(f"{path}: no decoder for the video codec of this file")
    return streams[0]


def _describe(container: av.container.InputContainer, vstream: av.VideoStream) -> dict[str, Any]:
    """Container-level facts (no decoding). Duration: the container's, else the video stream's."""
    duration = None  # unknown, e.g. browser-recorded webm without a duration header
    if container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    elif vstream.duration and vstream.time_base is not None:
        duration = float(vstream.duration * vstream.time_base)
    astream = container.streams.audio[0] if container.streams.audio else None
    actx = astream.codec_context if astream is not None else None
    return {
        "format": container.format.name,
        "duration": duration,
        "fps": float(vstream.average_rate) if vstream.average_rate else None,
        "width": vstream.codec_context.width,
        "height": vstream.codec_context.height,
        "rotation": 0,
        "video_codec": vstream.codec_context.name,
        "has_audio": astream is not None,
        "audio_codec": actx.name if actx is not None else None,
        "audio_sample_rate": actx.sample_rate if actx is not None else None,
        "audio_channels": actx.channels if actx is not None else None,
    }


def _quarter_turns(rotation: float) -> int:
    """Display rotation (degrees CCW) -> number of np.rot90 quarter turns, in 0..3."""
    return round(rotation / 90) % 4


def _announced_video_end(vstream: av.VideoStream, origin: float, duration: float | None) -> float | None:
    """Where the video stream says it ends (s from origin); the clip duration when it does not say."""
    if vstream.duration is not None and vstream.start_time is not None and vstream.time_base is not None:
        return float((vstream.start_time + vstream.duration) * vstream.time_base) - origin
    return duration


NO_AUDIO_WARNING = "the file has no audio track; the clip is analysed with silence"


def short_audio_warning(missing_s: float) -> str:
    """The one wording, whole or windowed: seconds past the audio's end are analysed as silence."""
    return f"the audio track is {missing_s:.1f} s shorter than the clip; silence added"


def short_video_warning(video_end: float, duration: float, num_segments: int) -> str:
    """The one wording, whole or windowed: seconds without a picture are not analysed (no AV event
    can be seen in them, and holding the last frame would show one as if it were seen)."""
    return (
        f"the video track ends at {video_end:.1f} s while the file lasts {duration:.1f} s; "
        f"only the first {num_segments} s, where picture and sound both exist, are analysed"
    )


@dataclass(frozen=True)
class TrackEnds:
    """Where a file's tracks end (s from its start), from the packets' timestamps: no decoding."""

    duration: float | None  # as the header announces it
    video_end: float  # the end of the last video packet
    audio_end: float | None  # None: the file has no audio track


def track_ends(path: str | Path, *, timeout_s: float = DEFAULT_DECODE_TIMEOUT_S) -> TrackEnds:
    """Demux (not decode) the first video and audio streams to find where each really ends.

    A long clip is decoded window by window, so its length must be known before the first window:
    the header's duration alone would leave the seconds after an early-ending video track unscored.
    """
    path = Path(path)
    guard = _DecodeGuard(path, timeout_s)
    with _open_input(path) as container:
        vstream = _video_stream(container, path)
        duration = _describe(container, vstream)["duration"]
        astream = container.streams.audio[0] if container.streams.audio else None
        origin, video_index = _origin(container), vstream.index  # a stream is not read after closing
        audio_index = None if astream is None else astream.index
        ends: dict[int, float] = {}
        try:
            for count, packet in enumerate(container.demux([s for s in (vstream, astream) if s is not None])):
                if count % 1000 == 0:
                    guard.check(0, 0)
                if packet.pts is None or packet.time_base is None:
                    continue
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base) - origin
                ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
        except av.FFmpegError as e:
            raise MediaError(f"{path}: reading failed, the file is corrupt or truncated ({e})") from e
    if video_index not in ends:
        raise MediaError(f"{path}: the video stream holds no frame")
    audio_end = None if audio_index is None else ends.get(audio_index, 0.0)
    return TrackEnds(duration, ends[video_index], audio_end)


def analysed_span(ends: TrackEnds, path: Path) -> tuple[int, list[str]]:
    """The whole seconds a windowed analysis covers, and the warnings decode_clip would give."""
    duration = ends.duration if ends.duration is not None else ends.video_end
    num_segments, warnings = _whole_seconds(duration), []
    if ends.video_end + TRUNCATION_TOLERANCE_S < duration:
        num_segments = _whole_seconds(ends.video_end)
        _warn(warnings, path, short_video_warning(ends.video_end, duration, num_segments))
    if ends.audio_end is None:
        _warn(warnings, path, NO_AUDIO_WARNING)
    elif num_segments - ends.audio_end > AUDIO_GAP_WARN_S:
        _warn(warnings, path, short_audio_warning(num_segments - ends.audio_end))
    return num_segments, warnings


def _whole_seconds(duration: float) -> int:
    """T = number of whole seconds (a 10.9-s clip gives 10)."""
    return math.floor(duration + TIME_EPS_S)


def _checked_segments(
    duration: float, cfg: FeatureConfig, path: Path, warnings: list[str], *, lower_bound: bool = False
) -> int:
    """T for a clip of `duration` s (`lower_bound`: at least that long): refuse < 1 s; over
    max_seconds refuse or cut per cfg.on_too_long."""
    num_segments = _whole_seconds(duration)
    if num_segments < 1:
        raise MediaError(f"{path}: the clip lasts {duration:.2f} s; at least 1 s (one segment) is needed")
    if num_segments > cfg.max_seconds:
        lasts = f"the clip lasts {'over ' if lower_bound else ''}{duration:.1f} s"
        if cfg.on_too_long == "refuse":
            raise MediaError(
                f"{path}: {lasts}, longer than max_seconds={cfg.max_seconds}; "
                f"use a shorter clip or on_too_long='cut' to analyse its first {cfg.max_seconds} s"
            )
        _warn(warnings, path, f"{lasts}; only its first {cfg.max_seconds} s are analysed")
        num_segments = cfg.max_seconds
    return num_segments


def _warn(warnings: list[str], path: Path, message: str) -> None:
    """Record a warning for the caller (the app shows them) and log it with the file name."""
    warnings.append(message)
    logger.warning("%s: %s", path, message)


class _DecodeGuard:
    """Bounds one decode: wall-clock timeout and a frame-count cap (broken timestamps never advance)."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path, self.timeout_s = path, timeout_s
        self.deadline = time.monotonic() + timeout_s

    def check(self, num_frames: int, num_segments: int) -> None:
        if time.monotonic() > self.deadline:
            raise MediaError(
                f"{self.path}: decoding took longer than timeout_s={self.timeout_s:g} s; "
                "the file is too heavy or broken"
            )
        max_frames = (num_segments + 1) * MAX_FRAME_RATE
        if num_frames > max_frames:
            raise MediaError(
                f"{self.path}: over {max_frames} video frames for {num_segments} s "
                f"(> {MAX_FRAME_RATE} fps); the timestamps are broken"
            )


def _decode(
    container: av.container.InputContainer, path: Path, cfg: FeatureConfig, guard: _DecodeGuard
) -> DecodedClip:
    """Fix T, run one decoding pass, then check the result for truncation and missing audio."""
    vstream = _video_stream(container, path)
    vstream.thread_type = "AUTO"  # frame + slice threads; decoding dominates the cost
    duration = _describe(container, vstream)["duration"]
    warnings: list[str] = []
    # Known duration: T is fixed (and checked) before decoding. Unknown (e.g. browser-recorded
    # webm): decode at most max_seconds + 1 s, enough to tell whether the clip is too long.
    known = duration is not None
    limit = _checked_segments(duration, cfg, path, warnings) if known else cfg.max_seconds + 1
    origin = _origin(container)
    sampler, collector = _sample(container, vstream, cfg, guard, origin, limit)
    if sampler.num_decoded == 0:
        raise MediaError(f"{path}: the video stream holds no decodable frame")
    if known:
        num_segments = limit
        expected_end = _announced_video_end(vstream, origin, duration)
        stopped_early = expected_end is not None and sampler.end_time + TRUNCATION_TOLERANCE_S < expected_end
        if not sampler.done and stopped_early:
            raise MediaError(
                f"{path}: the video stops at {sampler.end_time:.2f} s but the file announces "
                f"{expected_end:.2f} s; the file is truncated or corrupt"
            )
        if not sampler.done and sampler.end_time + TRUNCATION_TOLERANCE_S < duration:
            # The video track ends well before the file (its audio runs on). Seconds without a picture
            # would repeat the last frame as if it were seen: analyse only the span both tracks cover.
            num_segments = _checked_segments(sampler.end_time, cfg, path, [])
            _warn(warnings, path, short_video_warning(sampler.end_time, duration, num_segments))
    else:
        duration = sampler.end_time  # when sampler.done, decoding stopped: the clip is at least this long
        num_segments = _checked_segments(duration, cfg, path, warnings, lower_bound=sampler.done)
    if collector is None:
        _warn(warnings, path, NO_AUDIO_WARNING)
        audio = np.zeros(num_segments * cfg.sample_rate, np.float32)
    else:
        audio, missing_s = collector.finish(num_segments)
        if missing_s > AUDIO_GAP_WARN_S:
            _warn(warnings, path, short_audio_warning(missing_s))
    return DecodedClip(
        frames=sampler.finish(num_segments),
        audio=audio,
        sample_rate=cfg.sample_rate,
        num_segments=num_segments,
        duration=float(duration),
        has_audio=collector is not None and collector.num_samples > 0,
        warnings=warnings,
    )


def _origin(container: av.container.InputContainer) -> float:
    """The container's start time (s): sample times are counted from it."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _sample(
    container: av.container.InputContainer,
    vstream: av.VideoStream,
    cfg: FeatureConfig,
    guard: _DecodeGuard,
    origin: float,
    num_segments: int,
) -> tuple[_FrameSampler, _AudioCollector | None]:
    """One decoding pass from the container's position: K frames a second and the audio of
    `num_segments` seconds counted from `origin` (the whole clip's start, or a window's)."""
    step = 1.0 / float(vstream.average_rate) if vstream.average_rate else 0.0  # when frames lack durations
    sampler = _FrameSampler(num_segments, cfg.frames_per_segment, cfg.frame_size, origin, step)
    astream = container.streams.audio[0] if container.streams.audio else None
    collector = _AudioCollector(cfg.sample_rate, num_segments, origin) if astream is not None else None
    _demux(
        container,
        vstream,
        astream,
        sampler,
        collector,
        lambda: guard.check(sampler.num_decoded, num_segments),
    )
    return sampler, collector


def _demux(
    container: av.container.InputContainer,
    vstream: av.VideoStream,
    astream: av.AudioStream | None,
    sampler: _FrameSampler,
    collector: _AudioCollector | None,
    check: Callable[[], None],
) -> None:
    """One sequential pass over the interleaved packets, decoding only streams still needed."""
    for packet in container.demux([vstream] + ([astream] if astream is not None else [])):
        check()
        if packet.stream.index == vstream.index:
            if not sampler.done:
                for frame in packet.decode():
                    sampler.add(frame)
        elif collector is not None and not collector.done:
            for aframe in packet.decode():
                collector.add(aframe)
        if sampler.done and (collector is None or collector.done):
            return


class _FrameSampler:
    """Streams decoded frames and keeps only those displayed at the sample instants.

    Sample j = t * K + k is at time t + (k + 0.5) / K from the origin; the frame displayed then is the
    last one whose timestamp is <= that time (the first frame before the video starts). A frame is
    converted to RGB only once the next frame shows which samples it covers, so memory is O(T*K)
    frames whatever the frame rate.
    """

    def __init__(self, num_segments: int, k: int, size: int, origin: float, fallback_step: float) -> None:
        self.k, self.size, self.origin, self.fallback_step = k, size, origin, fallback_step
        self.times = (np.arange(num_segments * k) + 0.5) / k  # (T*K,) = t + (k + 0.5) / K
        # Pages of np.empty are committed when written: unused segments (unknown duration) cost nothing.
        self.out = np.empty((num_segments * k, size, size, 3), np.uint8)  # (T*K, S, S, 3)
        self.next = 0  # first sample not yet assigned
        self.num_decoded = 0
        self.held: av.VideoFrame | None = None  # the latest frame: displayed from its time on
        self.end_time = 0.0  # where the latest frame stops being displayed (s from origin)

    @property
    def done(self) -> bool:
        """All samples are assigned: later frames are not needed."""
        return self.next == len(self.times)

    def add(self, frame: av.VideoFrame) -> None:
        """Assign the samples displayed before `frame` to the frame held until now."""
        self.num_decoded += 1
        start = frame.time - self.origin if frame.time is not None else self.end_time
        stop = int(np.searchsorted(self.times, start, side="left"))  # samples with time < start
        if stop > self.next:
            self.out[self.next : stop] = self._rgb(self.held if self.held is not None else frame)
            self.next = stop
        self.held = frame
        step = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
        self.end_time = start + (step or self.fallback_step)

    def finish(self, num_segments: int) -> np.ndarray:
        """(T, K, S, S, 3): samples after the last frame's timestamp show the last frame."""
        n = num_segments * self.k
        if self.next < n:
            self.out[self.next : n] = self._rgb(self.held)
        return self.out[:n].reshape(num_segments, self.k, self.size, self.size, 3)  # (T, K, S, S, 3)

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """S x S RGB by direct resize (see module docstring), then the display rotation applied."""
        rgb = frame.to_ndarray(width=self.size, height=self.size, format="rgb24")  # (S, S, 3)
        # Resizing to a square before rotating equals rotating first: each axis is scaled on its own.
        return np.rot90(rgb, k=_quarter_turns(frame.rotation))


class _AudioCollector:
    """Resamples decoded audio to `rate` and down-mixes it to mono by averaging the channels.

    swresample's own down-mix weights each stereo channel by ~0.707 (a sum, not a mean), and 5.1 by
    per-channel levels, so the channels are kept through resampling and averaged here.
    """

    def __init__(self, rate: int, num_segments: int, origin: float) -> None:
        self.rate, self.origin = rate, origin
        self.needed = num_segments * rate
        self.chunks: list[np.ndarray] = []
        self.num_samples = 0
        self.start: float | None = None  # first audio timestamp, s from origin
        self.resampler: av.AudioResampler | None = None
        self.input_format: tuple[str, str, int] | None = None

    @property
    def done(self) -> bool:
        """Enough samples to cover `num_segments` seconds after aligning to the origin."""
        return self.start is not None and self.num_samples + self._offset() >= self.needed

    def add(self, frame: av.AudioFrame) -> None:
        if self.start is None:
            self.start = frame.time - self.origin if frame.time is not None else 0.0
        fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
        if fmt != self.input_format:  # a resampler is bound to its first frame's format: renew it
            self._flush()
            self.resampler = av.AudioResampler(format="fltp", rate=self.rate)  # keeps the channels
            self.input_format = fmt
        for out in self.resampler.resample(frame):
            self._push(out)

    def finish(self, num_segments: int) -> tuple[np.ndarray, float]:
        """(T * rate,) mono float32 aligned to the origin, and the seconds padded at the end."""
        self._flush()
        n = num_segments * self.rate
        mono = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        offset = self._offset()
        # offset > 0: audio starts after the video (leading silence); < 0: drop what precedes it.
        mono = np.concatenate([np.zeros(offset, np.float32), mono]) if offset > 0 else mono[-offset:]
        missing = max(0, n - len(mono))
        audio = np.pad(mono[:n], (0, missing)).astype(np.float32, copy=False)
        return np.clip(audio, -1.0, 1.0), missing / self.rate

    def _offset(self) -> int:
        return round((self.start or 0.0) * self.rate)

    def _push(self, out: av.AudioFrame) -> None:
        planes = out.to_ndarray()  # (channels, n) float32, planar
        self.chunks.append(planes.mean(axis=0))  # mono = (1/C) sum_c x_c
        self.num_samples += planes.shape[1]

    def _flush(self) -> None:
        if self.resampler is not None:
            for out in self.resampler.resample(None):
                self._push(out)
            self.resampler = None


# ---------------------------------------------------------------------------- encoding helpers


def _check_frame(arr: np.ndarray, index: int, first: np.ndarray) -> None:
    """Every frame must be (H, W, 3) uint8 with the first frame's size."""
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        got = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ValueError(f"write_clip: frames must be (N, H, W, 3) uint8 RGB; frame {index} is {got}")
    if arr.shape != first.shape:
        raise ValueError(f"write_clip: frame {index} has shape {arr.shape}, frame 0 has {first.shape}")


def _check_audio(audio: np.ndarray) -> np.ndarray:
    """(channels, n) float32 in [-1, 1] from mono (n,) or (channels, n) input."""
    planar = np.asarray(audio, dtype=np.float32)
    planar = planar[None] if planar.ndim == 1 else planar  # (n,) -> (1, n)
    if planar.ndim != 2 or planar.shape[0] not in _LAYOUTS or planar.shape[1] == 0:
        raise ValueError(
            f"write_clip: audio must be (n,) or (channels, n) with channels in {sorted(_LAYOUTS)} "
            f"and n > 0, got shape {np.shape(audio)}"
        )
    if not np.isfinite(planar).all():
        raise ValueError("write_clip: audio contains NaN or infinite values")
    if np.abs(planar).max() > 1.0:
        logger.warning("write_clip: audio exceeds [-1, 1] (peak %.2f); clipped", float(np.abs(planar).max()))
        planar = np.clip(planar, -1.0, 1.0)
    return np.ascontiguousarray(planar)


def _pad_even(arr: np.ndarray) -> np.ndarray:
    """Repeat the last row/column to reach even sizes (yuv420p halves the chroma resolution)."""
    pad_h, pad_w = arr.shape[0] % 2, arr.shape[1] % 2
    return np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else arr


def _mux_audio(
    out: av.container.OutputContainer, astream: av.AudioStream, planar: np.ndarray, start: int, stop: int
) -> int:
    """Encode samples [start, stop) of `planar` (clamped to its length); returns the new position."""
    stop = min(stop, planar.shape[1])
    if stop <= start:
        return start
    chunk = np.ascontiguousarray(planar[:, start:stop])  # (channels, stop - start)
    aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=_LAYOUTS[planar.shape[0]])
    aframe.sample_rate = astream.codec_context.sample_rate
    aframe.pts = start  # time_base = 1 / sample_rate
    out.mux(astream.encode(aframe))
    return stop
