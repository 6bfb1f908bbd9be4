"""One clip -> per-second audio and visual features, the AVE way (Sec. IV-A), with a content-hash cache.

Visual: the K frames sampled in second t go through the visual backbone and their h x w x C maps
are averaged (AVE: VGG19 pool5, K = 16). Audio: the audio backbone embeds second t (AVE: VGGish on
the 0.96-s log-mel patch). An optional fixed `Projection` maps both to the AVE sizes (512, 128).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from avel.common.config import DEVICES, FeatureConfig
from avel.common.device import resolve_device
from avel.common.files import atomic_write, evict_oldest
from avel.features.backbones import AudioBackbone, VisualBackbone, audio_backbone, visual_backbone
from avel.features.media import DecodedClip, decode_clip
from avel.features.projection import Projection

log = logging.getLogger(__name__)

CACHE_FORMAT = "avel.clipfeatures/1"  # part of every cache key: bump to invalidate old entries
HASH_CHUNK = 1 << 20  # bytes read at a time when hashing a file
Progress = Callable[[float, str], None]
# Progress shares: decoding in extract_clip, then the visual backbone within encode (audio: the rest).
DECODE_SHARE, VISUAL_SHARE = 0.15, 0.9


def file_sha256(path: str | Path) -> str:
    """sha256 of the file bytes: a clip's identity, whatever its name."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ClipFeatures:
    """Everything later stages need from one clip: features, plus frames and sound to show them on."""

    audio: np.ndarray  # (T, D_a) float32
    visual: np.ndarray  # (T, h, w, C_v) float32
    frames: np.ndarray  # (T, S, S, 3) uint8: the middle sampled frame of each second (overlays)
    waveform: np.ndarray  # (T * sample_rate,) float32 mono
    sample_rate: int
    num_segments: int  # T
    duration: float  # seconds, of the whole file (T may be shorter: whole seconds, max_seconds)
    content_hash: str  # sha256 of the file bytes
    projected: bool  # True when audio/visual went through a Projection
    warnings: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write an .npz atomically (a reader never sees half a file); no pickled objects."""
        meta = {k: getattr(self, k) for k in ("sample_rate", "num_segments", "duration", "content_hash")}
        meta.update(projected=self.projected, warnings=self.warnings)
        buf = io.BytesIO()
        np.savez(
            buf,
            audio=self.audio,
            visual=self.visual,
            frames=self.frames,
            waveform=self.waveform,
            meta=np.array(json.dumps(meta)),
        )
        atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> ClipFeatures:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("audio", "visual", "frames", "waveform")}
        return cls(**arrays, **meta)


@dataclass
class BackboneTags:
    """What the pretrained backbones perceive in each second: a zero-shot reference beside a model.

    Per second, the top-k (name, score) of YAMNet's AudioSet classes (sigmoid) and of the visual
    network's ImageNet classes (softmax); None where the backbone has no classifier (VGGish).
    """

    audio: list[list[tuple[str, float]]] | None
    visual: list[list[tuple[str, float]]] | None


def _top_k(scores: torch.Tensor, names: list[str], k: int) -> list[list[tuple[str, float]]]:
    values, indices = scores.topk(min(k, scores.shape[-1]), dim=-1)  # (T, k) each
    return [
        [(names[i], round(float(v), 3)) for v, i in zip(row_v, row_i, strict=True)]
        for row_v, row_i in zip(values.tolist(), indices.tolist(), strict=True)
    ]


class FeatureExtractor:
    """Turns clips into `ClipFeatures`; loads its backbones once, on first use.

    `weights` maps a backbone name to its weight file (else the backbone's own lookup applies);
    `download` lets a backbone fetch missing weights (never done otherwise). With `cache_dir`,
    a clip already analysed under the same settings is read back instead of recomputed.
    """

    def __init__(
        self,
        cfg: FeatureConfig,
        projection: Projection | None = None,
        cache_dir: Path | None = None,
        device: str | torch.device = "auto",
        weights: dict[str, str | Path] | None = None,
        download: bool = False,
        cache_max_bytes: int | None = None,
    ) -> None:
        if projection is not None:
            projection.check_backbones(cfg.visual_backbone, cfg.audio_backbone)
        self.cfg = cfg
        self.projection = projection
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_max_bytes = cache_max_bytes  # None: unbounded (a batch run); the app sets a cap
        # "auto"/"cpu"/"cuda" are checked (CUDA asked for but absent is an error); "cuda:1" passes as is
        self.device = resolve_device(device) if device in DEVICES else torch.device(device)
        self.weights = {k: str(v) for k, v in (weights or {}).items()}
        self.download = download
        self._visual: VisualBackbone | None = None
        self._audio: AudioBackbone | None = None

    @property
    def visual_net(self) -> VisualBackbone:
        if self._visual is None:
            name = self.cfg.visual_backbone
            self._visual = visual_backbone(
                name, weights=self.weights.get(name), download=self.download, device=self.device
            )
        return self._visual

    @property
    def audio_net(self) -> AudioBackbone:
        if self._audio is None:
            name = self.cfg.audio_backbone
            self._audio = audio_backbone(
                name, weights=self.weights.get(name), download=self.download, device=self.device
            )
        return self._audio

    def load(self) -> None:
        """Load both backbones now rather than on the first clip (an app does this at startup)."""
        _ = self.visual_net, self.audio_net

    def settings_id(self) -> str:
        """A hash of everything that changes the features (not batch_frames: it only sets speed)."""
        settings = {k: v for k, v in asdict(self.cfg).items() if k != "batch_frames"}
        settings.update(
            format=CACHE_FORMAT,
            weights=self.weights,
            projection=self.projection.id if self.projection is not None else None,
        )
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]

    def encode_visual(self, frames: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """(T, K, S, S, 3) uint8 -> (T, h, w, C_v) native features: each second's K frame maps averaged."""
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"encode_visual: expected frames (T, K, S, S, 3), got {frames.shape}")
        t, k = frames.shape[:2]
        flat = frames.reshape(t * k, *frames.shape[2:])  # (T*K, S, S, 3), a view
        net = self.visual_net
        sums = torch.zeros(t, *net.grid, net.out_channels)  # (T, h, w, C_v)
        step = self.cfg.batch_frames
        for lo in range(0, t * k, step):
            maps = net(flat[lo : lo + step])  # (n, h, w, C_v)
            segment = torch.arange(lo, lo + len(maps)) // k  # the second each frame belongs to
            sums.index_add_(0, segment, maps)
            if progress is not None:
                done = lo + len(maps)
                progress(done / (t * k), f"visual features: frame {done}/{t * k}")
        return (sums / k).numpy()  # Sec. IV-A: F_t^v = (1/K) sum_k CNN(V_t,k)

    def encode_audio(self, waveform: np.ndarray, num_segments: int) -> np.ndarray:
        """(T * sr,) float32 -> (T, D_a) native features: one embedding per second (F_t^a)."""
        net = self.audio_net
        audio = net(waveform, num_segments)  # (T, D_a)
        if tuple(audio.shape) != (num_segments, net.out_dim):
            raise ValueError(
                f"audio backbone {net.name}: expected output ({num_segments}, {net.out_dim}), "
                f"got {tuple(audio.shape)}"
            )
        return np.asarray(audio, dtype=np.float32)

    def encode(self, clip: DecodedClip, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Native (audio (T, D_a), visual (T, h, w, C_v)) of a decoded clip; no projection, no cache."""
        report = progress or (lambda fraction, message: None)
        visual = self.encode_visual(clip.frames, lambda f, m: report(VISUAL_SHARE * f, m))
        report(VISUAL_SHARE, "audio features")
        audio = self.encode_audio(clip.audio, clip.num_segments)
        report(1.0, "features done")
        return audio, visual

    def extract_clip(
        self, path: str | Path, progress: Progress | None = None, content_hash: str | None = None
    ) -> ClipFeatures:
        """Decode `path` and compute its features (projected when a projection is set), or read the cache.

        `progress(fraction, message)` is called as the work advances (for the app's progress bar);
        `content_hash` is the file's sha256 when the caller already has it (not computed again).
        Raises MediaError for files that cannot be analysed.
        """
        report = progress or (lambda fraction, message: None)
        path = Path(path)
        digest = content_hash
        if digest is None:
            report(0.0, "hashing the file")
            digest = file_sha256(path) if path.is_file() else ""
        cache_file = self._cache_file(digest)
        if cache_file is not None and cache_file.is_file():
            log.info("features of %s read from the cache (%s)", path.name, cache_file.name)
            report(1.0, "features read from the cache")
            cache_file.touch()  # most recently used: evicted last
            return ClipFeatures.load(cache_file)
        report(0.0, "decoding")
        clip = decode_clip(path, self.cfg)  # raises MediaError on bad files (incl. missing ones)
        report(DECODE_SHARE, "visual features")
        audio, visual = self.encode(clip, lambda f, m: report(DECODE_SHARE + (1 - DECODE_SHARE) * f, m))
        if self.projection is not None:
            audio, visual = self.projection.apply_audio(audio), self.projection.apply_visual(visual)
        features = ClipFeatures(
            audio=audio,
            visual=visual,
            frames=clip.frames[:, clip.frames.shape[1] // 2].copy(),  # (T, S, S, 3): middle of K samples
            waveform=clip.audio,
            sample_rate=clip.sample_rate,
            num_segments=clip.num_segments,
            duration=clip.duration,
            content_hash=digest,
            projected=self.projection is not None,
            warnings=list(clip.warnings),
        )
        if cache_file is not None:
            features.save(cache_file)
            if self.cache_max_bytes is not None:
                evict_oldest(cache_file.parent, self.cache_max_bytes, keep=cache_file)
        report(1.0, "done")
        return features

    def tags(self, clip: ClipFeatures, k: int = 3) -> BackboneTags:
        """The backbones' own top-k classes per second, from the clip's native features (no CNN pass)."""
        if clip.projected:
            raise ValueError("backbone tags need native features; this clip's were projected")
        audio_net, visual_net = self.audio_net, self.visual_net
        audio = visual = None
        if hasattr(audio_net, "tag_embeddings"):
            audio = _top_k(audio_net.tag_embeddings(torch.from_numpy(clip.audio)), audio_net.class_names, k)
        if hasattr(visual_net, "tag_maps"):
            visual = _top_k(visual_net.tag_maps(torch.from_numpy(clip.visual)), visual_net.categories, k)
        return BackboneTags(audio=audio, visual=visual)

    def _cache_file(self, digest: str) -> Path | None:
        if self.cache_dir is None or not digest:
            return None
        key = hashlib.sha256(f"{digest}|{self.settings_id()}".encode()).hexdigest()
        return self.cache_dir / f"{key}.npz"
