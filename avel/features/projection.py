"""A fixed PCA projection from a backbone's native channels to the official AVE feature sizes.

MobileNetV2 gives 1280 channels per grid position and YAMNet a 1024-d embedding, where AVE's
released features (VGG19 pool5, VGGish) have 512 and 128. A PCA fitted once on a training split
maps each to the AVE sizes, so models keep the paper's C_v = 512, C_a = 128 (Sec. IV-A).

Output range (a choice the paper does not make, since it uses native VGG features): the
projection is centred and divided by ONE global scale so that the projected features have unit
root-mean-square on the fitting data. It is not whitened (per-component scaling would blow the
low-variance tail, mostly noise, up to the weight of the leading components) and not clipped to
a non-negative ReLU-like range like VGGish (a ReLU after PCA throws away the sign of every
component, i.e. about half of the retained variance). The models' first layers are learned
affine maps, so signed, zero-mean inputs of unit scale suit their default initialisation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

PROJECTION_FILE = "projection.pt"  # beside the features (and bundled checkpoints) it projected
FORMAT = "avel.projection/1"  # bump when the saved dict changes shape
Array = TypeVar("Array", np.ndarray, torch.Tensor)


class MomentAccumulator:
    """Streaming mean and covariance of row vectors, in float64.

    Sums are taken around a shift (the first batch's mean) so that the one-pass formula
    cov = (S_xx - n m m^T) / (n - 1) does not lose precision to cancellation when the mean is
    large against the spread (post-ReLU features are all positive).
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.count = 0
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(dim, dtype=np.float64)
        self._outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, rows: np.ndarray | torch.Tensor) -> None:
        """Add a batch of rows (N, dim)."""
        x = rows.detach().cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MomentAccumulator.update: expected rows (N, {self.dim}), got {x.shape}")
        if len(x) == 0:
            return
        x = x.astype(np.float64, copy=False)
        if self._shift is None:
            self._shift = x.mean(axis=0)
        d = x - self._shift  # (N, dim)
        self._sum += d.sum(axis=0)
        self._outer += d.T @ d
        self.count += len(x)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """The sample mean (dim,) and unbiased covariance (dim, dim)."""
        if self.count < 2 or self._shift is None:
            raise ValueError(f"need at least 2 rows to estimate a covariance, got {self.count}")
        md = self._sum / self.count  # mean of the shifted rows
        cov = (self._outer - self.count * np.outer(md, md)) / (self.count - 1)
        return self._shift + md, (cov + cov.T) / 2


@dataclass
class PCA:
    """y = (x - mean) @ components / scale: one modality's fixed linear map, in_dim -> out_dim."""

    mean: torch.Tensor  # (in_dim,)
    components: torch.Tensor  # (in_dim, out_dim), orthonormal columns, by decreasing variance
    scale: float  # sqrt of the mean retained variance: projected features have unit RMS
    explained: float  # share of the total variance the out_dim components keep

    @property
    def in_dim(self) -> int:
        return self.components.shape[0]

    @property
    def out_dim(self) -> int:
        return self.components.shape[1]

    @classmethod
    def from_moments(cls, acc: MomentAccumulator, out_dim: int) -> PCA:
        """Keep the out_dim leading eigenvectors of the accumulated covariance."""
        if not 1 <= out_dim <= acc.dim:
            raise ValueError(f"PCA output size must be in [1, {acc.dim}], got {out_dim}")
        if acc.count < out_dim:
            log.warning(
                "PCA to %d dims fitted on only %d samples: the trailing components are arbitrary",
                out_dim,
                acc.count,
            )
        mean, cov = acc.mean_cov()
        # One BLAS thread: threaded LAPACK on busy cores stalls at every barrier (measured here on
        # 2 shared cores: 13 s threaded vs 0.4 s single-threaded for a 1280 x 1280 eigh).
        with threadpool_limits(1, user_api="blas"):
            eigval, eigvec = np.linalg.eigh(cov)  # ascending
        order = np.argsort(eigval)[::-1][:out_dim]
        values = np.clip(eigval[order], 0.0, None)
        vectors = eigvec[:, order]  # (in_dim, out_dim)
        # eigenvector signs are arbitrary: make each column's largest entry positive so refits agree
        flip = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(out_dim)])
        vectors = vectors * np.where(flip == 0, 1.0, flip)
        total = float(np.clip(eigval, 0.0, None).sum())
        scale = float(np.sqrt(values.mean())) if values.mean() > 0 else 1.0
        return cls(
            mean=torch.from_numpy(mean.astype(np.float32)),
            components=torch.from_numpy(vectors.astype(np.float32)),
            scale=scale,
            explained=float(values.sum() / total) if total > 0 else 1.0,
        )

    def apply(self, x: Array) -> Array:
        """Project the last axis of x (..., in_dim) -> (..., out_dim); numpy in, numpy out."""
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"projection expects last axis {self.in_dim}, got shape {tuple(x.shape)}")
        if isinstance(x, torch.Tensor):
            mean = self.mean.to(device=x.device, dtype=x.dtype)
            comps = self.components.to(device=x.device, dtype=x.dtype)
            return (x - mean) @ comps / self.scale
        flat = np.asarray(x, dtype=np.float32).reshape(-1, self.in_dim)  # one 2-D matmul: ~3x faster
        y = (flat - self.mean.numpy()) @ self.components.numpy()
        return (y / np.float32(self.scale)).astype(np.float32).reshape(*x.shape[:-1], -1)


@dataclass
class Projection:
    """The visual (C_v) and audio (C_a) PCA maps of one backbone pair."""

    visual: PCA
    audio: PCA
    visual_backbone: str
    audio_backbone: str

    @classmethod
    def fit(
        cls,
        clips: Iterable[tuple[np.ndarray, np.ndarray]],
        visual_dim: int = 512,
        audio_dim: int = 128,
        *,
        visual_backbone: str,
        audio_backbone: str,
    ) -> Projection:
        """Fit on (audio (T, D_a), visual (T, h, w, C_v)) pairs, one clip at a time.

        Every grid position of every segment is one visual sample (2,000 AVE videos give
        ~10^6 x 1280), every segment one audio sample; only the float64 moments are held.
        """
        acc_v: MomentAccumulator | None = None
        acc_a: MomentAccumulator | None = None
        for audio, visual in clips:
            if acc_v is None or acc_a is None:
                acc_v, acc_a = MomentAccumulator(visual.shape[-1]), MomentAccumulator(audio.shape[-1])
            acc_v.update(visual.reshape(-1, visual.shape[-1]))  # (T*h*w, C_v)
            acc_a.update(audio.reshape(-1, audio.shape[-1]))  # (T, D_a)
        if acc_v is None or acc_a is None:
            raise ValueError("Projection.fit: no clips to fit on")
        proj = cls(
            visual=PCA.from_moments(acc_v, visual_dim),
            audio=PCA.from_moments(acc_a, audio_dim),
            visual_backbone=visual_backbone,
            audio_backbone=audio_backbone,
        )
        log.info(
            "projection fitted: visual %d->%d (%.1f%% variance, %d samples), audio %d->%d (%.1f%%, %d)",
            proj.visual.in_dim,
            visual_dim,
            100 * proj.visual.explained,
            acc_v.count,
            proj.audio.in_dim,
            audio_dim,
            100 * proj.audio.explained,
            acc_a.count,
        )
        return proj

    def apply_visual(self, x: Array) -> Array:
        """(..., C_v native) -> (..., visual_dim)."""
        return self.visual.apply(x)

    def apply_audio(self, x: Array) -> Array:
        """(..., D_a native) -> (..., audio_dim)."""
        return self.audio.apply(x)

    def check_backbones(self, visual_backbone: str, audio_backbone: str) -> None:
        """Refuse to project features of other backbones than the ones it was fitted on."""
        if (visual_backbone, audio_backbone) != (self.visual_backbone, self.audio_backbone):
            raise ValueError(
                f"projection was fitted on {self.visual_backbone}/{self.audio_backbone} features, "
                f"got {visual_backbone}/{audio_backbone}"
            )

    @property
    def id(self) -> str:
        """A short content hash: changes whenever any parameter changes (used as a cache key)."""
        h = hashlib.sha256(f"{self.visual_backbone}|{self.audio_backbone}".encode())
        for pca in (self.visual, self.audio):
            h.update(pca.mean.numpy().tobytes())
            h.update(pca.components.numpy().tobytes())
            h.update(np.float64(pca.scale).tobytes())
        return h.hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Tensors, ints, floats and strings only: loadable with torch.load(weights_only=True)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "visual_backbone": self.visual_backbone,
            "audio_backbone": self.audio_backbone,
        }
        for name, pca in (("visual", self.visual), ("audio", self.audio)):
            out[f"{name}_mean"] = pca.mean.clone()
            out[f"{name}_components"] = pca.components.clone()
            out[f"{name}_scale"] = pca.scale
            out[f"{name}_explained"] = pca.explained
            out[f"{name}_in_dim"] = pca.in_dim
            out[f"{name}_out_dim"] = pca.out_dim
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Projection:
        if d.get("format") != FORMAT:
            raise ValueError(f"projection dict: expected format {FORMAT!r}, got {d.get('format')!r}")
        pcas = {}
        for name in ("visual", "audio"):
            comps = d[f"{name}_components"].float()
            expected = (d[f"{name}_in_dim"], d[f"{name}_out_dim"])
            if tuple(comps.shape) != expected:
                raise ValueError(
                    f"projection dict: {name}_components is {tuple(comps.shape)}, expected {expected}"
                )
            pcas[name] = PCA(
                mean=d[f"{name}_mean"].float(),
                components=comps,
                scale=float(d[f"{name}_scale"]),
                explained=float(d[f"{name}_explained"]),
            )
        return cls(
            visual=pcas["visual"],
            audio=pcas["audio"],
            visual_backbone=str(d["visual_backbone"]),
            audio_backbone=str(d["audio_backbone"]),
        )

    def save(self, path: str | Path) -> None:
        """Write `projection.pt` (a plain dict; see to_dict)."""
        torch.save(self.to_dict(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Projection:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"projection file not found: {path}")
        return cls.from_dict(torch.load(path, map_location="cpu", weights_only=True))
