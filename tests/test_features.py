"""Feature extraction: real backbones on tiny generated clips, the PCA projection, the cache, `extract`.

Clips are 3 s with K = 2 frames per second, so each extraction is 6 MobileNetV2 frames and
3 YAMNet patches; the real backbones are loaded once per module and shared.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from clipgen import BLUE, RED, colour, make_clip

from avel.commands import main
from avel.common.config import FeatureConfig
from avel.data import FeaturesInfo
from avel.features import extractor as features_module
from avel.features.backbones import audio_backbone, visual_backbone
from avel.features.extract import extract_videos, list_videos, weights_in_dir
from avel.features.extractor import ClipFeatures, FeatureExtractor
from avel.features.media import write_clip
from avel.features.projection import MomentAccumulator, Projection

K, SECONDS, SR = 2, 3, 16_000
CFG = FeatureConfig(frames_per_segment=K)


class Counting:
    """Wraps a backbone and counts its forward calls (the cost a cache must avoid)."""

    def __init__(self, net: Any) -> None:
        self.net, self.calls = net, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.net, name)

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.net(*args)


@pytest.fixture(scope="module")
def nets() -> dict[str, Any]:
    return {"visual": visual_backbone("mobilenet_v2"), "audio": audio_backbone("yamnet")}


@pytest.fixture
def counted(nets: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Counting]:
    """Every FeatureExtractor built in the test gets the shared real backbones, counted."""
    wrapped = {kind: Counting(net) for kind, net in nets.items()}
    monkeypatch.setattr(features_module, "visual_backbone", lambda name, **kw: wrapped["visual"])
    monkeypatch.setattr(features_module, "audio_backbone", lambda name, **kw: wrapped["audio"])
    return wrapped


def two_part_clip(path: Path) -> None:
    """Seconds 0-1: red frames and a 440-Hz tone; second 2: blue frames and a 1500-Hz tone."""
    fps = 8
    frames = [np.full((48, 64, 3), RED if i < 2 * fps else BLUE, np.uint8) for i in range(3 * fps)]
    t = np.arange(SECONDS * SR) / SR
    audio = 0.5 * np.sin(2 * np.pi * np.where(t < 2, 440.0, 1500.0) * t)
    write_clip(path, frames, fps, audio.astype(np.float32), SR)


# ------------------------------------------------------------------------------------- projection


def low_rank(rng: np.random.Generator, n: int, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """n rows of mean + z @ basis with decreasing variances per direction, plus tiny noise."""
    z = rng.normal(size=(n, len(basis))) * np.arange(len(basis), 0, -1)  # std k, k-1, ..., 1
    return (mean + z @ basis + 1e-4 * rng.normal(size=(n, basis.shape[1]))).astype(np.float32)


def test_pca_recovers_a_low_rank_subspace_from_streamed_batches() -> None:
    rng = np.random.default_rng(0)
    dim, rank = 40, 4
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T  # (rank, dim) orthonormal rows
    mean = rng.uniform(100, 200, size=dim)  # a large offset: the one-pass covariance must not cancel
    clips = [
        (low_rank(rng, 3, basis[:2, :12], mean[:12]), low_rank(rng, 3 * 4, basis, mean).reshape(3, 2, 2, dim))
        for _ in range(8)
    ]
    proj = Projection.fit(iter(clips), rank, 2, visual_backbone="v", audio_backbone="a")

    comps = proj.visual.components.numpy()  # (dim, rank)
    np.testing.assert_allclose(comps @ comps.T, basis.T @ basis, atol=1e-3)  # same subspace
    assert proj.visual.explained > 0.999999
    everything = np.concatenate([v.reshape(-1, dim) for _, v in clips])
    np.testing.assert_allclose(proj.visual.mean.numpy(), everything.mean(0), rtol=1e-6)
    projected = proj.apply_visual(everything)  # centred, unit RMS, variances still ordered
    assert projected.shape == (96, rank)
    np.testing.assert_allclose(projected.mean(0), 0, atol=1e-3)
    assert np.sqrt((projected**2).mean()) == pytest.approx(1.0, abs=0.02)
    assert np.all(np.diff(projected.var(0)) < 0)
    # projecting back reconstructs the data: nothing but the noise is lost
    back = projected * proj.visual.scale @ comps.T + proj.visual.mean.numpy()
    np.testing.assert_allclose(back, everything, atol=1e-2)


def test_moments_match_numpy_whatever_the_batching() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, size=(50, 6))
    acc = MomentAccumulator(6)
    for chunk in np.split(x, [7, 30]):  # uneven batches
        acc.update(chunk)
    mean, cov = acc.mean_cov()
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.T), rtol=1e-10)
    with pytest.raises(ValueError, match=r"expected rows \(N, 6\), got \(3, 5\)"):
        acc.update(np.zeros((3, 5)))


def test_projection_round_trip_numpy_and_torch(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    clips = [
        (rng.random((3, 16)).astype(np.float32), rng.random((3, 2, 2, 24)).astype(np.float32))
        for _ in range(4)
    ]
    proj = Projection.fit(clips, 8, 4, visual_backbone="mobilenet_v2", audio_backbone="yamnet")
    proj.save(tmp_path / "projection.pt")
    raw = torch.load(tmp_path / "projection.pt", weights_only=True)  # no pickled code
    loaded = Projection.load(tmp_path / "projection.pt")
    assert raw["visual_out_dim"] == 8 and raw["audio_in_dim"] == 16
    assert loaded.id == proj.id and Projection.from_dict(proj.to_dict()).id == proj.id
    visual = clips[0][1]
    np.testing.assert_array_equal(loaded.apply_visual(visual), proj.apply_visual(visual))
    as_torch = loaded.apply_visual(torch.from_numpy(visual).double())
    assert as_torch.dtype == torch.float64 and as_torch.shape == (3, 2, 2, 8)
    np.testing.assert_allclose(as_torch.numpy(), proj.apply_visual(visual), atol=1e-5)
    with pytest.raises(ValueError, match="fitted on mobilenet_v2/yamnet features, got vgg19/yamnet"):
        loaded.check_backbones("vgg19", "yamnet")
    with pytest.raises(ValueError, match="expects last axis 16"):
        loaded.apply_audio(np.zeros((3, 15), np.float32))
    with pytest.raises(ValueError, match="expected format"):
        Projection.from_dict({**proj.to_dict(), "format": "other"})


# -------------------------------------------------------------------------------------- one clip


def test_clip_features_shapes_frames_and_hash(tmp_path: Path, counted: dict[str, Counting]) -> None:
    spec = make_clip(tmp_path / "clip.mp4", SECONDS)
    seen: list[float] = []
    clip = FeatureExtractor(CFG).extract_clip(spec.path, progress=lambda f, m: seen.append(f))
    assert clip.audio.shape == (SECONDS, 1024) and clip.audio.dtype == np.float32
    assert clip.visual.shape == (SECONDS, 7, 7, 1280) and clip.visual.dtype == np.float32
    assert clip.visual.min() >= 0 and clip.visual.max() > 0  # MobileNetV2 ends in ReLU6
    assert clip.frames.shape == (SECONDS, 224, 224, 3) and clip.frames.dtype == np.uint8
    for t in range(SECONDS):  # the overlay frame of second t shows that second's colour
        np.testing.assert_allclose(clip.frames[t].reshape(-1, 3).mean(0), colour(t), atol=12)
    assert clip.waveform.shape == (SECONDS * SR,) and clip.sample_rate == SR
    assert clip.num_segments == SECONDS and not clip.projected
    assert clip.content_hash == hashlib.sha256(spec.path.read_bytes()).hexdigest()
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_features_change_at_the_second_the_content_changes(
    tmp_path: Path, counted: dict[str, Counting]
) -> None:
    two_part_clip(tmp_path / "change.mp4")
    clip = FeatureExtractor(CFG).extract_clip(tmp_path / "change.mp4")
    visual = clip.visual.mean(axis=(1, 2))  # (T, C_v)

    def step(x: np.ndarray, a: int, b: int) -> float:
        return float(np.linalg.norm(x[a] - x[b]) / np.linalg.norm(x[a]))

    # seconds 0 and 1 are the same picture and tone; second 2 differs in both
    assert step(visual, 1, 2) > 0.3 and step(visual, 0, 1) < 0.01  # identical frames
    # second 0 holds the tone's onset (and the AAC encoder's priming), so it is only close to second 1
    assert step(clip.audio, 1, 2) > 0.3 and step(clip.audio, 0, 1) < step(clip.audio, 1, 2) / 4


def test_projected_clip_features(tmp_path: Path, counted: dict[str, Counting]) -> None:
    two_part_clip(tmp_path / "change.mp4")
    native = FeatureExtractor(CFG).extract_clip(tmp_path / "change.mp4")
    proj = Projection.fit(
        [(native.audio, native.visual)], 8, 2, visual_backbone="mobilenet_v2", audio_backbone="yamnet"
    )
    clip = FeatureExtractor(CFG, projection=proj).extract_clip(tmp_path / "change.mp4")
    assert clip.projected and clip.audio.shape == (SECONDS, 2) and clip.visual.shape == (SECONDS, 7, 7, 8)
    np.testing.assert_allclose(clip.visual, proj.apply_visual(native.visual), atol=1e-5)
    assert np.sqrt((clip.visual**2).mean()) == pytest.approx(1.0, abs=0.05)  # unit RMS on the fit data
    with pytest.raises(ValueError, match="fitted on mobilenet_v2/yamnet features, got mobilenet_v2/vggish"):
        FeatureExtractor(FeatureConfig(audio_backbone="vggish"), projection=proj)


def test_cache_hit_costs_no_backbone_call(tmp_path: Path, counted: dict[str, Counting]) -> None:
    spec = make_clip(tmp_path / "clip.mp4", SECONDS)
    extractor = FeatureExtractor(CFG, cache_dir=tmp_path / "cache")
    first = extractor.extract_clip(spec.path)
    calls = (counted["visual"].calls, counted["audio"].calls)
    assert calls == (1, 1)  # 6 frames fit one batch
    shutil.copy(spec.path, tmp_path / "renamed.mp4")  # same bytes under another name: still a hit
    again = FeatureExtractor(CFG, cache_dir=tmp_path / "cache").extract_clip(tmp_path / "renamed.mp4")
    assert (counted["visual"].calls, counted["audio"].calls) == calls
    for name in ("audio", "visual", "frames", "waveform"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert isinstance(again, ClipFeatures) and again.content_hash == first.content_hash
    # other settings are another entry
    FeatureExtractor(FeatureConfig(frames_per_segment=1), cache_dir=tmp_path / "cache").extract_clip(
        spec.path
    )
    assert counted["visual"].calls == calls[0] + 1


# ------------------------------------------------------------------------------ extract command


@pytest.fixture
def video_folder(tmp_path: Path) -> Path:
    """Three good 3-s clips (one in a subfolder, one .mkv), one 2-s clip, one non-video .mp4."""
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    make_clip(folder / "a.mp4", SECONDS)
    two_part_clip(folder / "sub" / "b.mp4")
    make_clip(folder / "c.mkv", SECONDS + 0.5, fps=10)  # cut to T = 3 s
    make_clip(folder / "short.mp4", 2)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (folder / "notes.txt").write_text("not a video")
    return folder


def read_h5(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["avadataset"][()]


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "videos.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_extract_command_skips_bad_videos_and_projects(
    video_folder: Path, tmp_path: Path, counted: dict[str, Counting], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["extract", str(video_folder), "--out", str(out), "--fps", str(K), "--segments", str(SECONDS)]
    assert main([*args, "--project-to", "8,4"]) == 0
    rows = manifest(out)
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "broken.mp4", "c.mkv", "short.mp4", "b.mp4"]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert [by_name[n]["row"] for n in ("a.mp4", "c.mkv", "b.mp4")] == ["0", "1", "2"]
    assert by_name["broken.mp4"]["status"] == "unreadable" and by_name["broken.mp4"]["row"] == ""
    assert by_name["short.mp4"]["status"] == "too_short" and by_name["short.mp4"]["segments"] == "2"
    assert float(by_name["c.mkv"]["duration"]) == pytest.approx(3.5, abs=0.1)
    assert read_h5(out / "audio_feature.h5").shape == (3, SECONDS, 4)
    assert read_h5(out / "visual_feature.h5").shape == (3, SECONDS, 7, 7, 8)
    info = FeaturesInfo.read(out)
    assert info.projected and info.frames_per_segment == K and info.native_visual_dim == 1280
    assert "all 3 extracted videos" in info.projection.source
    assert Projection.load(out / "projection.pt").id == info.projection.id
    printed = capsys.readouterr().out
    assert "extracted 3 of 5 videos" in printed and "skipped" in printed and "broken.mp4" in printed


def test_extract_resumes_from_parts_and_fits_on_a_list(
    video_folder: Path, tmp_path: Path, counted: dict[str, Counting]
) -> None:
    out = tmp_path / "out"
    videos = list_videos(video_folder)
    # an "interrupted" run: only the first two videos were done
    extract_videos(videos[:2], out, CFG, segments=SECONDS)
    assert counted["visual"].calls == 1  # a.mp4 (broken.mp4 never reaches the network)
    result = extract_videos(video_folder, out, CFG, segments=SECONDS)
    assert counted["visual"].calls == 3  # c.mkv and b.mp4 only; short.mp4 is decoded, not encoded
    audio, visual = result.arrays()
    assert audio.shape == (3, SECONDS, 1024) and visual.shape == (3, SECONDS, 7, 7, 1280)
    assert not (out / "projection.pt").exists() and not result.info.projected

    # projecting afterwards reuses every part; the PCA sees only the fit list
    fit_on = [video_folder / "a.mp4", video_folder / "sub" / "b.mp4"]
    projected = extract_videos(video_folder, out, CFG, segments=SECONDS, project_to=(8, 4), fit_on=fit_on)
    assert counted["visual"].calls == 3
    expected = Projection.fit(
        [(audio[0], visual[0]), (audio[2], visual[2])],
        8,
        4,
        visual_backbone="mobilenet_v2",
        audio_backbone="yamnet",
    )
    assert projected.projection is not None and projected.projection.id == expected.id
    p_audio, p_visual = projected.arrays()
    np.testing.assert_allclose(p_visual, expected.apply_visual(visual), atol=1e-5)
    np.testing.assert_allclose(p_audio, expected.apply_audio(audio), atol=1e-5)
    assert projected.info.projection.source == "2 listed videos"


def test_extract_with_no_usable_video_reports_why(tmp_path: Path, counted: dict[str, Counting]) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of the 1 videos could be extracted"):
        extract_videos([tmp_path / "bad.mp4"], tmp_path / "out", CFG, segments=SECONDS)
    assert manifest(tmp_path / "out")[0]["status"] == "unreadable"
    with pytest.raises(ValueError, match="fit_on needs project_to"):
        extract_videos([tmp_path / "bad.mp4"], tmp_path / "out", CFG, fit_on=[tmp_path / "bad.mp4"])


def test_video_lists_and_weight_folders(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/x.MP4", "d/e/y.webm", "d/z.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_videos(tmp_path / "d")] == ["y.webm", "x.MP4"]  # sorted by path: d/e/ < d/x
    (tmp_path / "list.txt").write_text("# train\nd/x.MP4\n\n/abs/v.mp4\n")
    assert list_videos(tmp_path / "list.txt") == [tmp_path / "d" / "x.MP4", Path("/abs/v.mp4")]
    with pytest.raises(FileNotFoundError, match="neither a folder nor a list file"):
        list_videos(tmp_path / "nothing")
    for name in ("vgg19-dcbb9e9d.pth", "vggish-10086976.pth", "readme.md"):
        (tmp_path / "w" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "w" / name).write_bytes(b"")
    found = weights_in_dir(tmp_path / "w", ("vgg19", "vggish", "yamnet"))
    assert {k: v.name for k, v in found.items()} == {
        "vgg19": "vgg19-dcbb9e9d.pth",
        "vggish": "vggish-10086976.pth",
    }


def test_extract_cli_refuses_bad_projection_options(capsys: pytest.CaptureFixture[str]) -> None:
    bad: list[list[str]] = [["--project-to", "512"], ["--project-to", "8,4", "--projection", "p.pt"]]
    for extra in bad:
        with pytest.raises(SystemExit) as exit_info:
            main(["extract", "videos", "--out", "o", *extra])
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "expected VISUAL,AUDIO such as 512,128" in err and "not allowed with argument" in err
