"""`python -m avel extract`: many videos -> features in the official AVE layout, resumable.

    python -m avel extract videos/ --out data/myset                      # native dims (1024, 7x7x1280)
    python -m avel extract videos/ --out data/myset --project-to 512,128 --fit-on train.txt
    python -m avel extract more.txt --out data/more --projection data/myset/projection.pt

Writes `audio_feature.h5` [N, T, D_a] and `visual_feature.h5` [N, T, h, w, C_v] (key
`avadataset`), `videos.csv` (one line per input video, `row` = its h5 row, empty when skipped),
`features.json` (backbones, K, dims) and, when projected, `projection.pt`. T is fixed per dataset:
longer clips are cut to T seconds, shorter ones are skipped. Each video's native features are
saved under DIR/.parts/ as soon as they are computed (keyed by file content and settings), so an
interrupted run picks up where it stopped; the h5 files are assembled from the parts at the end.

Under torchrun (docs/distributed.md) each rank extracts every world_size-th video of the list into
the same DIR/.parts/ (a folder all ranks can reach); once every shard is done rank 0 numbers the
videos, fits the projection once and writes the layout, exactly as a single process would:
    torchrun --nproc_per_node 8 -m avel extract videos/ --out data/big --project-to 512,128 --fit-on train.txt
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from avel.common import distributed
from avel.common.config import AVE_SEGMENTS, FeatureConfig
from avel.common.device import resolve_device
from avel.common.files import atomic_path, atomic_write, remove_stale_temporaries
from avel.data.features_info import FEATURES_INFO_FILE, FeaturesInfo, ProjectionInfo
from avel.data.layout import AUDIO_FILE, DATASET_KEY, VISUAL_FILE
from avel.features.backbones import WeightsNotFoundError
from avel.features.extractor import FeatureExtractor, file_sha256
from avel.features.media import MediaError, decode_clip
from avel.features.projection import PROJECTION_FILE, Projection

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
PARTS_DIR = ".parts"
MANIFEST_FILE = "videos.csv"
MANIFEST_FIELDS = ("row", "path", "sha256", "duration", "segments", "status", "message")


def list_videos(source: str | Path) -> list[Path]:
    """A folder (searched recursively for VIDEO_SUFFIXES) or a text file with one path per line.

    In a list, blank lines and lines starting with '#' are ignored; relative paths are taken
    from the list file's folder.
    """
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if source.is_file():
        lines = (line.strip() for line in source.read_text(encoding="utf-8").splitlines())
        return [source.parent / line for line in lines if line and not line.startswith("#")]
    raise FileNotFoundError(f"videos: {source} is neither a folder nor a list file")


def weights_in_dir(folder: str | Path, names: Sequence[str]) -> dict[str, Path]:
    """Weight files in `folder` under their usual names (vgg19-dcbb9e9d.pth, vggish-10086976.pth, ...).

    A file belongs to backbone `name` when its lower-cased name starts with `name` followed by
    '-', '_' or '.'; backbones without one keep their own lookup (installed packages, hub cache).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--weights-dir: {folder} is not a folder")
    found = {}
    for name in names:
        hits = [
            p
            for p in folder.iterdir()
            if p.is_file()
            and p.name.lower().startswith(name)
            and p.name[len(name) : len(name) + 1] in ("-", "_", ".")
        ]
        if len(hits) > 1:
            raise ValueError(f"--weights-dir: several files for {name} in {folder}: {[p.name for p in hits]}")
        if hits:
            found[name] = hits[0]
    return found


@dataclass
class VideoRecord:
    """One line of videos.csv."""

    path: Path
    sha256: str = ""
    duration: float | None = None
    segments: int = 0  # whole seconds decoded (at most the dataset's T)
    status: str = "pending"  # ok, too_short, unreadable, error
    message: str = ""
    row: int | None = None  # row in the h5 files; None when skipped

    def csv_row(self) -> list[Any]:
        duration = "" if self.duration is None else f"{self.duration:.3f}"
        row = "" if self.row is None else self.row
        return [row, str(self.path), self.sha256, duration, self.segments, self.status, self.message]


@dataclass
class ExtractResult:
    """What extract_videos wrote: the manifest records, the projection used, features.json."""

    out_dir: Path
    records: list[VideoRecord]
    projection: Projection | None
    info: FeaturesInfo

    @property
    def extracted(self) -> list[VideoRecord]:
        """The videos written to the h5 files, in row order."""
        return [r for r in self.records if r.row is not None]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Read back audio [N, T, D_a] and visual [N, T, h, w, C_v] (the visual file can be GBs)."""
        with h5py.File(self.out_dir / AUDIO_FILE, "r") as a, h5py.File(self.out_dir / VISUAL_FILE, "r") as v:
            return a[DATASET_KEY][()], v[DATASET_KEY][()]


class _Parts:
    """DIR/.parts/<settings>/: per-video native features (<sha256>.npz) or skip reasons (<sha256>.json)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def done(self, rec: VideoRecord) -> bool:
        """Fill `rec` from an earlier run's part; False when the video still has to be processed."""
        if not rec.sha256:
            return False
        features, skipped = self.folder / f"{rec.sha256}.npz", self.folder / f"{rec.sha256}.json"
        if features.is_file():
            with np.load(features, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
            rec.status, rec.duration, rec.segments = "ok", meta["duration"], meta["segments"]
            rec.message = "; ".join(meta["warnings"])
            return True
        if skipped.is_file():
            meta = json.loads(skipped.read_text(encoding="utf-8"))
            rec.status, rec.duration, rec.segments, rec.message = (
                meta["status"],
                meta["duration"],
                meta["segments"],
                meta["message"],
            )
            return True
        return False

    def save_features(
        self, rec: VideoRecord, audio: np.ndarray, visual: np.ndarray, warnings: list[str]
    ) -> None:
        meta = {"duration": rec.duration, "segments": rec.segments, "warnings": warnings}
        buf = io.BytesIO()
        # compressed: post-ReLU maps are mostly zeros (~1/3 the size), at a few ms per video
        np.savez_compressed(buf, audio=audio, visual=visual, meta=np.array(json.dumps(meta)))
        atomic_write(self.folder / f"{rec.sha256}.npz", buf.getvalue())

    def save_skip(self, rec: VideoRecord) -> None:
        """Remember a deterministic failure (bad file, too short) so a re-run does not decode it again."""
        if rec.sha256:
            meta = {
                "status": rec.status,
                "duration": rec.duration,
                "segments": rec.segments,
                "message": rec.message,
            }
            atomic_write(self.folder / f"{rec.sha256}.json", json.dumps(meta).encode())

    def load(self, rec: VideoRecord, key: str) -> np.ndarray:
        """Native "audio" (T, D_a) or "visual" (T, h, w, C_v) of a video; only that array is read."""
        with np.load(self.folder / f"{rec.sha256}.npz", allow_pickle=False) as z:
            return z[key]


def _process(rec: VideoRecord, extractor: FeatureExtractor, parts: _Parts, segments: int) -> None:
    """Decode and encode one video into its part; bad videos end as a status, not an exception."""
    try:
        clip = decode_clip(rec.path, extractor.cfg)  # cfg cuts longer clips to `segments` seconds
    except MediaError as err:
        rec.status, rec.message = "unreadable", str(err)
        parts.save_skip(rec)
        return
    rec.duration, rec.segments = clip.duration, clip.num_segments
    if clip.num_segments < segments:
        rec.status = "too_short"
        rec.message = f"{clip.num_segments} whole seconds; the dataset's T is {segments}"
        parts.save_skip(rec)
        return
    audio, visual = extractor.encode(clip)
    parts.save_features(rec, audio, visual, clip.warnings)
    rec.status, rec.message = "ok", "; ".join(clip.warnings)


def _extract_parts(
    records: list[VideoRecord], extractor: FeatureExtractor, parts: _Parts, segments: int
) -> None:
    """Fill every record, computing the parts that an earlier run did not leave."""
    bar = tqdm(records, desc="extract", unit="video")
    for rec in bar:
        rec.sha256 = file_sha256(rec.path) if rec.path.is_file() else ""
        if parts.done(rec):
            continue
        try:
            _process(rec, extractor, parts, segments)
        except WeightsNotFoundError:
            raise  # a setup problem, not a bad video
        except Exception as err:  # one bad video must not end a long run; the traceback is logged
            log.exception("%s: feature extraction failed", rec.path)
            rec.status, rec.message = "error", f"{type(err).__name__}: {err}"
        bar.set_postfix_str(f"{rec.path.name}: {rec.status}")
    bar.close()


def _fit_projection(
    parts: _Parts,
    ok: list[VideoRecord],
    fit_on: Sequence[str | Path] | None,
    dims: tuple[int, int],
    cfg: FeatureConfig,
) -> tuple[Projection, str]:
    """Fit the PCA on the listed videos (all extracted ones when fit_on is None); says which."""
    if fit_on is None:
        chosen, described = ok, f"all {len(ok)} extracted videos (no fit list given)"
    else:
        wanted = {Path(p).resolve() for p in fit_on}
        chosen = [r for r in ok if r.path.resolve() in wanted]
        if len(chosen) < len(wanted):
            log.warning(
                "%d of the %d fit-on videos were not extracted (skipped or not in the video list)",
                len(wanted) - len(chosen),
                len(wanted),
            )
        if not chosen:
            raise ValueError(
                f"fit_on: none of its {len(wanted)} videos was extracted; nothing to fit the projection on"
            )
        described = f"{len(chosen)} listed videos"
    log.info("fitting the projection on %s", described)
    clips = ((parts.load(r, "audio"), parts.load(r, "visual")) for r in chosen)
    visual_dim, audio_dim = dims
    projection = Projection.fit(
        clips, visual_dim, audio_dim, visual_backbone=cfg.visual_backbone, audio_backbone=cfg.audio_backbone
    )
    return projection, described


def _check_reused(projection: Projection, audio_dim: int, visual_dim: int) -> str:
    """A given projection must take the native dims of these features."""
    if (projection.audio.in_dim, projection.visual.in_dim) != (audio_dim, visual_dim):
        raise ValueError(
            f"projection: expects native dims audio {projection.audio.in_dim}, visual "
            f"{projection.visual.in_dim}; the features have {audio_dim}, {visual_dim}"
        )
    return f"reused (id {projection.id})"


def _write_h5(path: Path, shape: tuple[int, ...], rows: Iterator[np.ndarray]) -> None:
    """Write rows one at a time (the visual file can exceed memory), then rename into place."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        dataset = f.create_dataset(DATASET_KEY, shape=shape, dtype=np.float32, chunks=(1, *shape[1:]))
        for i, row in enumerate(rows):
            dataset[i] = row


def _write_manifest(out_dir: Path, records: list[VideoRecord]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MANIFEST_FIELDS)
    writer.writerows(r.csv_row() for r in records)
    atomic_write(out_dir / MANIFEST_FILE, buf.getvalue().encode())


def _write_features(
    out_dir: Path, parts: _Parts, ok: list[VideoRecord], projection: Projection | None, segments: int
) -> dict[str, Any]:
    """The two h5 files (rows in `ok` order, projected when asked) and projection.pt; returns the dims."""
    audio0, visual0 = parts.load(ok[0], "audio"), parts.load(ok[0], "visual")
    grid = visual0.shape[1:3]  # (h, w)
    identity = np.asarray
    audio_map = projection.apply_audio if projection is not None else identity
    visual_map = projection.apply_visual if projection is not None else identity
    audio_dim, visual_dim = audio_map(audio0).shape[-1], visual_map(visual0[:1]).shape[-1]
    _write_h5(
        out_dir / AUDIO_FILE, (len(ok), segments, audio_dim), (audio_map(parts.load(r, "audio")) for r in ok)
    )
    _write_h5(
        out_dir / VISUAL_FILE,
        (len(ok), segments, *grid, visual_dim),
        (visual_map(parts.load(r, "visual")) for r in ok),
    )
    if projection is not None:
        projection.save(out_dir / PROJECTION_FILE)
    else:
        (out_dir / PROJECTION_FILE).unlink(missing_ok=True)  # a stale one would claim a projection
    return {
        "grid": tuple(grid),
        "audio_dim": audio_dim,
        "visual_dim": visual_dim,
        "native_audio_dim": audio0.shape[-1],
        "native_visual_dim": visual0.shape[-1],
    }


def _check_request(
    segments: int,
    project_to: tuple[int, int] | None,
    projection: Projection | None,
    fit_on: Sequence[str | Path] | None,
    cfg: FeatureConfig,
) -> None:
    """Refuse contradictory options before any video is decoded."""
    if segments < 1:
        raise ValueError(f"extract_videos: segments must be >= 1, got {segments}")
    if project_to is not None and projection is not None:
        raise ValueError(
            "extract_videos: give project_to (fit a projection) or projection (reuse one), not both"
        )
    if fit_on is not None and project_to is None:
        raise ValueError("extract_videos: fit_on needs project_to (it says what to fit the projection on)")
    if projection is not None:
        projection.check_backbones(cfg.visual_backbone, cfg.audio_backbone)


def _number_extracted(records: list[VideoRecord], out_dir: Path) -> list[VideoRecord]:
    """Give the extracted videos their rows, write the manifest, report the skipped ones."""
    ok = [r for r in records if r.status == "ok"]
    for row, rec in enumerate(ok):
        rec.row = row
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_manifest(out_dir, records)
    for rec in records:
        if rec.row is None:
            log.warning("skipped %s (%s): %s", rec.path, rec.status, rec.message)
    if not ok:
        raise ValueError(
            f"extract_videos: none of the {len(records)} videos could be extracted; "
            f"see {out_dir / MANIFEST_FILE}"
        )
    return ok


def _features_info(
    cfg: FeatureConfig,
    segments: int,
    dims: dict[str, Any],
    projection: Projection | None,
    source: Any,
    num_videos: int,
    num_skipped: int,
) -> FeaturesInfo:
    """The features.json record: backbones, K, sizes and the projection used."""
    return FeaturesInfo(
        visual_backbone=cfg.visual_backbone,
        audio_backbone=cfg.audio_backbone,
        frames_per_segment=cfg.frames_per_segment,
        frame_size=cfg.frame_size,
        sample_rate=cfg.sample_rate,
        segments=segments,
        **dims,
        projection=None
        if projection is None
        else ProjectionInfo(
            file=PROJECTION_FILE,
            id=projection.id,
            source=source,
            visual_explained=round(projection.visual.explained, 4),
            audio_explained=round(projection.audio.explained, 4),
        ),
        num_videos=num_videos,
        num_skipped=num_skipped,
    )


def extract_videos(
    videos: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    cfg: FeatureConfig | None = None,
    *,
    segments: int = AVE_SEGMENTS,
    project_to: tuple[int, int] | None = None,
    projection: Projection | None = None,
    fit_on: Sequence[str | Path] | None = None,
    weights: dict[str, str | Path] | None = None,
    download: bool = False,
    device: str = "auto",
) -> ExtractResult:
    """Extract every video and write the AVE layout into `out_dir`; see the module docstring.

    Steps: check the request; extract each video into resumable parts; number the extracted
    videos and write the manifest; fit (or check) the projection; write the h5 features and
    features.json. `videos`: a folder, a list file, or a sequence of paths. `project_to` =
    (C_v, C_a) fits a PCA on the `fit_on` videos (default: all extracted ones); `projection` reuses
    a fitted one instead. Re-running with the same settings reuses every finished video. Raises
    ValueError when no video could be extracted (the manifest is written first, with the reasons).
    """
    cfg = cfg or FeatureConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():  # refused now, not after the whole extraction
        raise ValueError(f"--out {out_dir}: exists and is not a folder; give a folder for the AVE layout")
    for stale in remove_stale_temporaries(out_dir):
        log.info("removed %s, left by a killed run", stale)
    _check_request(segments, project_to, projection, fit_on, cfg)
    paths = list_videos(videos) if isinstance(videos, str | Path) else [Path(p) for p in videos]
    if not paths:
        raise ValueError(f"extract_videos: no videos found in {videos}")
    # A dataset has one T: longer clips are cut to it, shorter ones are found short and skipped.
    decode_cfg = replace(cfg, max_seconds=segments, on_too_long="cut")
    ranks, rank_device = distributed.setup(resolve_device(device))  # cuda:LOCAL_RANK under torchrun
    extractor = FeatureExtractor(decode_cfg, device=rank_device, weights=weights, download=download)
    parts = _Parts(out_dir / PARTS_DIR / extractor.settings_id())
    records = [VideoRecord(path=p) for p in paths]
    mine = distributed.shard(records, ranks)  # all of them in a single process
    _extract_parts(mine, extractor, parts, segments)
    if ranks.launched:  # every shard is done once all ranks have sent theirs; rank 0 merges
        records = distributed.gather_shards(mine, len(records), ranks)
        if not ranks.is_main:
            return _merged_by_rank0(out_dir, records)
    ok = _number_extracted(records, out_dir)

    source = None
    if project_to is not None:
        projection, source = _fit_projection(parts, ok, fit_on, project_to, cfg)
    elif projection is not None:
        source = _check_reused(
            projection, parts.load(ok[0], "audio").shape[-1], parts.load(ok[0], "visual").shape[-1]
        )
    dims = _write_features(out_dir, parts, ok, projection, segments)
    info = _features_info(cfg, segments, dims, projection, source, len(ok), len(records) - len(ok))
    atomic_write(out_dir / FEATURES_INFO_FILE, info.to_json())
    log.info("wrote %d videos (%d skipped) to %s", len(ok), len(records) - len(ok), out_dir)
    distributed.barrier()  # under torchrun: the other ranks wait for the merge (_merged_by_rank0)
    return ExtractResult(out_dir, records, projection, info)


def _merged_by_rank0(out_dir: Path, records: list[VideoRecord]) -> ExtractResult:
    """What a rank other than 0 returns: the layout rank 0 wrote, read back once it is written,
    with rank 0's one projection (fitted once, on the fit-on list) loaded from projection.pt."""
    distributed.barrier()
    for row, rec in enumerate(r for r in records if r.status == "ok"):
        rec.row = row  # the rows rank 0 gave (_number_extracted), from the same gathered records
    info = FeaturesInfo.read(out_dir)
    if info is None:
        raise FileNotFoundError(f"{out_dir / FEATURES_INFO_FILE}: rank 0 did not write it")
    projection = Projection.load(out_dir / PROJECTION_FILE) if info.projection is not None else None
    return ExtractResult(out_dir, records, projection, info)
