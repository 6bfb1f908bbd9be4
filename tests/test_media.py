"""avel.features.media: clips generated with known per-second content must decode back to that content."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from clipgen import (
    BLUE,
    RED,
    colour,
    make_audio_only,
    make_clip,
    make_odd_size_clip,
    make_rotated_clip,
    make_vfr_clip,
    tone_freq,
    write_timed_video,
)

from avel.common.config import FeatureConfig
from avel.features import media
from avel.features.media import MediaError, decode_clip, probe, write_clip

RATE = 16000
SMALL = FeatureConfig(frames_per_segment=4, frame_size=32)  # tiny frames: the content is flat colour
COLOUR_ATOL = 6  # H.264/VP9/MPEG-4 on flat colour, plus YUV <-> RGB rounding
TONE_RMS = 0.5 / np.sqrt(2)  # clipgen's default amplitude 0.5


def dominant_freq(x: np.ndarray, rate: int = RATE) -> float:
    """Peak of the Hann-windowed spectrum (1-Hz bins for a 1-s window)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * rate / len(x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def seconds_of(audio: np.ndarray, rate: int = RATE) -> np.ndarray:
    return audio.reshape(-1, rate)  # (T, rate)


def assert_colours(frames: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
    """Mean colour of each segment's frames = the colour written for that second."""
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), np.asarray(colours, float), atol=COLOUR_ATOL)


def assert_tones(audio: np.ndarray, freqs: list[float | None], level: float = TONE_RMS) -> None:
    """Each second sounds its tone (FFT peak within 2 Hz) at `level` RMS, or is silent."""
    for t, second in enumerate(seconds_of(audio)):
        if freqs[t] is None:
            assert rms(second) < 0.005, f"second {t} should be silent, RMS {rms(second):.4f}"
        else:
            assert abs(dominant_freq(second) - freqs[t]) <= 2.0, f"second {t}"
            assert rms(second) == pytest.approx(level, rel=0.06), f"second {t}"


def test_segments_match_written_colours_tones_and_silence(tmp_path: Path) -> None:
    spec = make_clip(tmp_path / "clip.mp4", 10.0, silent=(3, 7))
    clip = decode_clip(spec.path, SMALL)
    assert clip.num_segments == 10
    assert clip.frames.shape == (10, 4, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (10 * RATE,) and clip.audio.dtype == np.float32
    assert clip.sample_rate == RATE and clip.has_audio and clip.warnings == []
    assert clip.duration == pytest.approx(10.0, abs=0.05)
    assert_colours(clip.frames, spec.colours[:10])
    assert_tones(clip.audio, spec.freqs[:10])


def test_default_config_picks_the_frame_displayed_at_each_sample_time(tmp_path: Path) -> None:
    """12 fps, K = 16: sample (t, k) at t + (k + 0.5)/16 s shows frame floor(12 (t + (k + 0.5)/16)).

    12 fps does not divide into 16 samples, so sampling at t + k/16 or taking the nearest frame
    instead of the one on screen picks other frames.
    """
    fps, levels = 12, 20 + 9 * np.arange(24)  # frame i is grey levels[i]
    frames = np.repeat(levels.astype(np.uint8), 48 * 64 * 3).reshape(24, 48, 64, 3)
    write_clip(tmp_path / "grey.mp4", frames, fps, None)
    clip = decode_clip(tmp_path / "grey.mp4")  # FeatureConfig(): K = 16, S = 224
    assert clip.frames.shape == (2, 16, 224, 224, 3)
    assert clip.audio.shape == (2 * RATE,) and not clip.audio.any()
    t, k = np.meshgrid(np.arange(2), np.arange(16), indexing="ij")
    expected = levels[np.floor(fps * (t + (k + 0.5) / 16)).astype(int)]  # (T, K)
    np.testing.assert_allclose(clip.frames.mean(axis=(2, 3, 4)), expected, atol=3)


@pytest.mark.parametrize("seconds", [10.5, 10.9])
def test_whole_seconds_give_the_segments(tmp_path: Path, seconds: float) -> None:
    spec = make_clip(tmp_path / "clip.mp4", seconds)
    clip = decode_clip(spec.path, SMALL)
    assert clip.num_segments == 10
    assert clip.frames.shape[0] == 10 and clip.audio.shape == (10 * RATE,)
    assert clip.duration == pytest.approx(seconds, abs=0.07)
    assert_colours(clip.frames, spec.colours[:10])


def test_clip_under_one_second_is_refused(tmp_path: Path) -> None:
    spec = make_clip(tmp_path / "short.mp4", 0.5)
    with pytest.raises(MediaError, match=r"at least 1 s"):
        decode_clip(spec.path, SMALL)


def test_clip_over_max_seconds_is_refused_or_cut(tmp_path: Path) -> None:
    spec = make_clip(tmp_path / "long.mp4", 70.0, fps=1, size=(16, 16), audio=False)
    tiny = {"frames_per_segment": 2, "frame_size": 16}
    with pytest.raises(MediaError, match=r"max_seconds=60"):
        decode_clip(spec.path, FeatureConfig(**tiny))
    clip = decode_clip(spec.path, FeatureConfig(**tiny, on_too_long="cut"))
    assert clip.num_segments == 60 and clip.frames.shape[0] == 60 and clip.audio.shape == (60 * RATE,)
    assert any("first 60 s" in w for w in clip.warnings)
    assert_colours(clip.frames, spec.colours[:60])


def test_missing_audio_track_gives_silence_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = make_clip(tmp_path / "mute.mp4", 3.0, audio=False)
    with caplog.at_level(logging.WARNING, logger="avel.features.media"):
        clip = decode_clip(spec.path, SMALL)
    assert not clip.has_audio and clip.audio.shape == (3 * RATE,) and not clip.audio.any()
    assert len(clip.warnings) == 1 and "no audio track" in clip.warnings[0]
    assert "no audio track" in caplog.text
    assert_colours(clip.frames, spec.colours[:3])


def test_short_audio_track_is_padded_with_a_warning(tmp_path: Path) -> None:
    tone = 0.5 * np.sin(2 * np.pi * 600 * np.arange(2 * RATE) / RATE)  # 2 s of audio under 3 s of video
    write_clip(tmp_path / "clip.mp4", np.zeros((24, 48, 64, 3), np.uint8), 8, tone.astype(np.float32))
    clip = decode_clip(tmp_path / "clip.mp4", SMALL)
    assert clip.has_audio and clip.num_segments == 3
    assert_tones(clip.audio, [600.0, 600.0, None])
    assert len(clip.warnings) == 1 and "shorter than the clip" in clip.warnings[0]


def test_video_shorter_than_audio_is_analysed_where_both_exist(tmp_path: Path) -> None:
    """2 s of picture under 5 s of sound: no frozen last frame for 3 s, a warning instead."""
    tone = 0.5 * np.sin(2 * np.pi * 600 * np.arange(5 * RATE) / RATE)
    frames = np.stack([np.full((48, 64, 3), colour(t // 8), np.uint8) for t in range(16)])  # 2 s at 8 fps
    write_clip(tmp_path / "clip.mp4", frames, 8, tone.astype(np.float32))
    clip = decode_clip(tmp_path / "clip.mp4", SMALL)
    assert clip.num_segments == 2 and clip.audio.shape == (2 * RATE,)
    assert_colours(clip.frames, [colour(0), colour(1)])
    assert len(clip.warnings) == 1 and "video track ends at 2.0 s" in clip.warnings[0]
    assert "first 2 s" in clip.warnings[0]


def test_file_without_video_is_refused(tmp_path: Path) -> None:
    make_audio_only(tmp_path / "voice.m4a")
    with pytest.raises(MediaError, match=r"no video stream \(found: audio\)"):
        decode_clip(tmp_path / "voice.m4a", SMALL)
    with pytest.raises(MediaError, match=r"no video stream"):
        probe(tmp_path / "voice.m4a")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncate(path: Path, keep: float) -> Path:
    """Keep the first `keep` fraction of the file, as an interrupted download does."""
    return _write(path, path.read_bytes()[: int(path.stat().st_size * keep)])


BAD_FILES = {  # case -> (make the file in a folder, expected message)
    "missing": (lambda d: d / "nope.mp4", r"no such file"),
    "directory": (lambda d: d, r"not a regular file"),
    "empty": (lambda d: _write(d / "empty.mp4", b""), r"empty file"),
    "text renamed .mp4": (
        lambda d: _write(d / "notes.mp4", b"just some text\n" * 50),
        r"not a readable audio/video file",
    ),
    "random bytes": (
        lambda d: _write(d / "noise.mp4", np.random.default_rng(0).bytes(4096)),
        r"not a readable audio/video file",
    ),
    "mp4 cut in its header": (
        lambda d: _truncate(make_clip(d / "h.mp4", 4.0).path, 0.02),
        r"not a readable audio/video file",
    ),
    "mp4 cut mid-stream": (lambda d: _truncate(make_clip(d / "m.mp4", 4.0).path, 0.5), r"truncated"),
    "mkv cut mid-stream": (
        lambda d: _truncate(make_clip(d / "m.mkv", 4.0, audio_codec="flac").path, 0.5),
        r"truncated",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_unreadable_files_raise_media_error(tmp_path: Path, case: str) -> None:
    make, message = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(MediaError, match=message):
        decode_clip(path, SMALL, timeout_s=30)
    assert issubclass(MediaError, ValueError)


def test_stereo_is_averaged_not_summed(tmp_path: Path) -> None:
    """L = 0.6 tone, R = 0.2 tone: the mean is 0.4 tone (swresample's 0.707-weighted sum gives 0.57)."""
    spec = make_clip(tmp_path / "stereo.mp4", 3.0, channel_gains=(0.6, 0.2))
    clip = decode_clip(spec.path, SMALL)
    assert_tones(clip.audio, spec.freqs[:3], level=0.4 * TONE_RMS)


def test_five_one_is_averaged_over_six_channels(tmp_path: Path) -> None:
    gains = (0.9, 0.3, 0.6, 0.0, 0.6, 0.0)  # FL FR FC LFE BL BR: mean 0.4
    spec = make_clip(tmp_path / "surround.mkv", 3.0, channel_gains=gains, audio_codec="flac")
    assert probe(spec.path)["audio_channels"] == 6
    clip = decode_clip(spec.path, SMALL)
    assert_tones(clip.audio, spec.freqs[:3], level=0.4 * TONE_RMS)


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100, 48000])
def test_sample_rates_are_resampled_to_16k(tmp_path: Path, sample_rate: int) -> None:
    spec = make_clip(tmp_path / "rate.mp4", 3.0, sample_rate=sample_rate)
    assert probe(spec.path)["audio_sample_rate"] == sample_rate
    clip = decode_clip(spec.path, SMALL)
    assert clip.audio.shape == (3 * RATE,)
    assert_tones(clip.audio, spec.freqs[:3])  # a wrong rate would shift every peak
    assert rms(clip.audio[-RATE // 10 :]) > 0.5 * TONE_RMS  # the track fills the clip: no padding
    assert clip.warnings == []


CONTAINERS = [
    ("mkv", "libvpx-vp9", "flac"),
    ("webm", "libvpx-vp9", "libopus"),
    ("avi", "mpeg4", "pcm_s16le"),
    ("mov", "h264", "aac"),
]


@pytest.mark.parametrize(("suffix", "video_codec", "audio_codec"), CONTAINERS)
def test_other_containers_and_codecs(tmp_path: Path, suffix: str, video_codec: str, audio_codec: str) -> None:
    spec = make_clip(tmp_path / f"clip.{suffix}", 3.0, video_codec=video_codec, audio_codec=audio_codec)
    clip = decode_clip(spec.path, SMALL)
    assert clip.num_segments == 3
    assert_colours(clip.frames, spec.colours[:3])
    assert_tones(clip.audio, spec.freqs[:3])


def test_variable_frame_rate_picks_the_frame_on_screen(tmp_path: Path) -> None:
    schedule = make_vfr_clip(tmp_path / "vfr.mp4", seconds=3)
    clip = decode_clip(tmp_path / "vfr.mp4", FeatureConfig(frames_per_segment=8, frame_size=16))
    assert clip.num_segments == 3
    starts = np.array([start for start, _ in schedule])
    for t in range(3):
        for k in range(8):
            shown = schedule[np.searchsorted(starts, t + (k + 0.5) / 8, side="right") - 1][1]
            np.testing.assert_allclose(clip.frames[t, k].mean(axis=(0, 1)), shown, atol=COLOUR_ATOL)


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_rotation_metadata_is_applied(tmp_path: Path, rotation: int) -> None:
    """-90 is a portrait phone video: the stored picture is turned 90 degrees clockwise to display."""
    make_rotated_clip(tmp_path / "phone.mp4", rotation)
    info = probe(tmp_path / "phone.mp4")
    assert (info["width"], info["height"], info["rotation"]) == (64, 48, rotation % 360)
    clip = decode_clip(tmp_path / "phone.mp4", SMALL)
    top, bottom = clip.frames[:, :, 2:12], clip.frames[:, :, 20:30]  # rows of the 32 x 32 frame
    np.testing.assert_allclose(top.mean(axis=(0, 1, 2, 3)), RED, atol=COLOUR_ATOL)
    np.testing.assert_allclose(bottom.mean(axis=(0, 1, 2, 3)), BLUE, atol=COLOUR_ATOL)


def test_odd_frame_size_decodes(tmp_path: Path) -> None:
    make_odd_size_clip(tmp_path / "odd.mp4", width=97, height=61)
    info = probe(tmp_path / "odd.mp4")
    assert (info["width"], info["height"]) == (97, 61)
    clip = decode_clip(tmp_path / "odd.mp4", SMALL)
    assert clip.frames.shape == (2, 4, 32, 32, 3)
    np.testing.assert_allclose(clip.frames[:, :, 2:12].mean(axis=(0, 1, 2, 3)), RED, atol=COLOUR_ATOL)
    np.testing.assert_allclose(clip.frames[:, :, 20:30].mean(axis=(0, 1, 2, 3)), BLUE, atol=COLOUR_ATOL)


def test_unknown_duration_is_found_by_decoding(tmp_path: Path) -> None:
    """A streamed webm (as browsers record) has no duration header: T comes from the frames."""
    frames = [np.full((48, 64, 3), colour(t), np.uint8) for t in range(4)]
    write_timed_video(
        tmp_path / "rec.webm", frames, [0.0, 1.0, 2.0, 3.0], end=3.5, codec="libvpx-vp9", streamed=True
    )
    assert probe(tmp_path / "rec.webm")["duration"] is None
    clip = decode_clip(tmp_path / "rec.webm", SMALL)
    assert clip.num_segments == 3 and clip.duration == pytest.approx(3.5, abs=0.1)
    assert_colours(clip.frames, [colour(t) for t in range(3)])
    with pytest.raises(MediaError, match=r"max_seconds=2"):
        decode_clip(tmp_path / "rec.webm", FeatureConfig(frames_per_segment=4, frame_size=32, max_seconds=2))


def test_decoding_is_bounded_by_timeout_and_frame_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_clip(tmp_path / "clip.mp4", 3.0, fps=24)
    with pytest.raises(MediaError, match=r"timeout_s=0"):
        decode_clip(spec.path, SMALL, timeout_s=0)
    monkeypatch.setattr(media, "MAX_FRAME_RATE", 10)  # 72 frames in 3 s > (3 + 1) * 10
    with pytest.raises(MediaError, match=r"timestamps are broken"):
        decode_clip(spec.path, SMALL)


def test_probe_reports_the_streams(tmp_path: Path) -> None:
    spec = make_clip(
        tmp_path / "clip.mp4", 2.0, fps=8, size=(64, 48), sample_rate=44100, channel_gains=(1, 1)
    )
    info = probe(spec.path)
    assert info["duration"] == pytest.approx(2.0, abs=0.05)
    assert info["fps"] == pytest.approx(8.0)
    assert (info["width"], info["height"], info["rotation"]) == (64, 48, 0)
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
    assert (info["has_audio"], info["audio_sample_rate"], info["audio_channels"]) == (True, 44100, 2)


def test_write_clip_pads_odd_sizes_and_omits_missing_audio(tmp_path: Path) -> None:
    frames = np.zeros((8, 61, 97, 3), np.uint8)
    frames[:, :, -1] = 200  # the last column, repeated into the padding
    write_clip(tmp_path / "odd.mp4", frames, 8, None)
    info = probe(tmp_path / "odd.mp4")
    assert (info["width"], info["height"], info["has_audio"]) == (98, 62, False)
    clip = decode_clip(tmp_path / "odd.mp4", FeatureConfig(frames_per_segment=1, frame_size=98))
    assert clip.frames[0, 0, :, -1].mean() == pytest.approx(200, abs=COLOUR_ATOL)


def test_write_clip_writes_mono_aac_at_the_given_rate(tmp_path: Path) -> None:
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(2 * RATE) / RATE)
    write_clip(tmp_path / "tone.mp4", np.zeros((16, 48, 64, 3), np.uint8), 8, tone.astype(np.float32))
    info = probe(tmp_path / "tone.mp4")
    assert (info["audio_codec"], info["audio_sample_rate"], info["audio_channels"]) == ("aac", RATE, 1)
    clip = decode_clip(tmp_path / "tone.mp4", SMALL)
    assert_tones(clip.audio, [1000.0, 1000.0])


@pytest.mark.parametrize(
    ("frames", "audio", "message"),
    [
        (np.zeros((4, 48, 64, 3), np.float32), None, r"uint8 RGB; frame 0 is float32"),
        (np.zeros((4, 48, 64), np.uint8), None, r"frame 0 is uint8 \(48, 64\)"),
        ([np.zeros((48, 64, 3), np.uint8), np.zeros((48, 32, 3), np.uint8)], None, r"frame 1 has shape"),
        (np.zeros((0, 48, 64, 3), np.uint8), None, r"no frames"),
        (np.zeros((4, 48, 64, 3), np.uint8), np.zeros((3, 100), np.float32), r"channels in \[1, 2, 6\]"),
        (np.zeros((4, 48, 64, 3), np.uint8), np.full(100, np.nan, np.float32), r"NaN"),
    ],
)
def test_write_clip_rejects_bad_input(tmp_path: Path, frames, audio, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_clip(tmp_path / "bad.mp4", frames, 8, audio)
    assert not (tmp_path / "bad.mp4").exists()


def test_tone_and_colour_tables_are_distinct() -> None:
    """The per-second content must tell neighbouring seconds apart, or the tests above prove nothing."""
    assert min(abs(tone_freq(t + 1) - tone_freq(t)) for t in range(9)) >= 100
    gaps = [np.abs(np.subtract(colour(t + 1), colour(t))).max() for t in range(9)]
    assert min(gaps) > 4 * COLOUR_ATOL


@pytest.mark.parametrize(
    ("name", "codec", "message"),
    [
        ("clip.xyz", "h264", r"the suffix picks the container"),
        ("clip.mp4", "no-such-codec", r"no-such-codec"),
    ],
)
def test_write_clip_reports_unknown_containers_and_codecs(
    tmp_path: Path, name: str, codec: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_clip(tmp_path / name, np.zeros((2, 8, 8, 3), np.uint8), 8, None, video_codec=codec)
    assert not (tmp_path / name).exists()


def test_windows_of_a_clip_decode_like_the_whole_clip(tmp_path: Path) -> None:
    """A long clip is decoded window by window (bounded memory) with the same frames and sound."""
    from avel.features.media import clip_seconds, decode_window

    spec = make_clip(tmp_path / "long.mp4", 7.0)
    whole = decode_clip(spec.path, SMALL)
    assert clip_seconds(spec.path) == 7
    windows = [decode_window(spec.path, start, 3, SMALL) for start in (0, 3, 6)]
    assert [w.num_segments for w in windows] == [3, 3, 1]  # the last window holds what is left
    np.testing.assert_array_equal(np.concatenate([w.frames for w in windows]), whole.frames)
    audio = np.concatenate([w.audio for w in windows])
    assert audio.shape == whole.audio.shape
    assert np.abs(audio - whole.audio).max() < 0.05  # the same tones (AAC frames re-aligned by the seek)
    assert_tones(windows[1].audio, [tone_freq(3), tone_freq(4), tone_freq(5)])


def test_a_clips_header_is_read_once_per_version_of_the_file(tmp_path: Path, monkeypatch) -> None:
    spec = make_clip(tmp_path / "clip.mp4", 3.0, fps=2, size=(16, 16))
    opened = []
    real_open = media._open_input
    monkeypatch.setattr(media, "_open_input", lambda path: opened.append(path) or real_open(path))
    assert media.clip_seconds(spec.path) == 3 and media.clip_seconds(str(spec.path)) == 3
    assert len(opened) == 1  # the app's queue and analyze_clip share one read
    make_clip(spec.path, 5.0, fps=2, size=(16, 16))  # a new version of the same file
    assert media.clip_seconds(spec.path) == 5 and len(opened) == 2
