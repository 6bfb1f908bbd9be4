"""The YAMNet / VGGish log-mel front end, and the wrapper that turns a waveform into one embedding per second.

Both networks were trained on the same features (Hershey et al. 2017; TF `vggish_input` / `yamnet/features`):
16 kHz mono, 25 ms periodic-Hann frames every 10 ms, |512-point FFT|, 64 HTK-mel bands on 125-7500 Hz with
triangles drawn on the mel axis and the DC bin dropped, log(mel + offset), patches of 96 frames (0.96 s).
The mel matrix is built here rather than by torchaudio because torchaudio draws the triangles on the Hz axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class LogMelSpec:
    """Front-end constants of a pretrained audio network (its input contract, not a user setting)."""

    log_offset: float  # YAMNet 0.001, VGGish 0.01
    sample_rate: int = 16_000
    window_samples: int = 400  # 25 ms
    hop_samples: int = 160  # 10 ms
    fft_length: int = 512  # next power of two >= the window
    num_mel_bins: int = 64
    lower_hz: float = 125.0
    upper_hz: float = 7500.0
    patch_frames: int = 96  # 0.96 s

    @property
    def patch_samples(self) -> int:
        """Waveform samples one patch reads: 95 hops + one window = 15600 (0.975 s)."""
        return (self.patch_frames - 1) * self.hop_samples + self.window_samples

    @property
    def frames_per_second(self) -> int:
        return self.sample_rate // self.hop_samples


YAMNET_LOGMEL = LogMelSpec(log_offset=0.001)
VGGISH_LOGMEL = LogMelSpec(log_offset=0.01)


def hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: m = 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_matrix(spec: LogMelSpec) -> Tensor:
    """(fft_length // 2 + 1, num_mel_bins) weights, as VGGish's `spectrogram_to_mel_matrix`."""
    num_bins = spec.fft_length // 2 + 1
    bins_mel = hertz_to_mel(np.linspace(0.0, spec.sample_rate / 2, num_bins))[:, None]  # (257, 1)
    edges = np.linspace(hertz_to_mel(spec.lower_hz), hertz_to_mel(spec.upper_hz), spec.num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]  # (64,) each
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (257, 64)
    weights[0, :] = 0.0  # the DC bin carries no band (TF and VGGish both zero it)
    return torch.from_numpy(weights.astype(np.float32))


class LogMel(nn.Module):
    """(L,) waveform -> (num_frames, 64) log-mel spectrogram, num_frames = 1 + (L - 400) // 160."""

    def __init__(self, spec: LogMelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("window", torch.hann_window(spec.window_samples, periodic=True))
        self.register_buffer("mel", mel_matrix(spec))

    def forward(self, waveform: Tensor) -> Tensor:
        s = self.spec
        # frames start at every hop and are not centred (no padding), as in the TF reference
        frames = waveform.unfold(0, s.window_samples, s.hop_samples)  # (F, 400)
        magnitude = torch.fft.rfft(frames * self.window, n=s.fft_length).abs()  # (F, 257), zero-padded FFT
        return torch.log(magnitude @ self.mel + s.log_offset)  # (F, 64)


def as_waveform(waveform: np.ndarray | Tensor, name: str) -> Tensor:
    """Check a mono float waveform and wrap it as a float32 tensor."""
    if isinstance(waveform, np.ndarray):
        waveform = torch.from_numpy(np.array(waveform))  # a copy: decoders return read-only arrays
    if not isinstance(waveform, Tensor):
        raise TypeError(
            f"{name}: waveform must be a numpy array or a torch Tensor, got {type(waveform).__name__}"
        )
    if waveform.ndim != 1:
        raise ValueError(f"{name}: waveform must be mono with shape (L,), got {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise ValueError(
            f"{name}: waveform must be float samples in [-1, 1], got dtype {waveform.dtype} "
            "(divide 16-bit PCM by 32768)"
        )
    return waveform.float()


class LogMelPatchEncoder:
    """A patch network behind the log-mel front end: waveform -> one embedding per 1-s segment.

    Segment t is summarised by the 0.96-s patch starting at t s (frames 100 t .. 100 t + 95), which is how
    AVE's VGGish features were made: one 96 x 64 example per second.
    """

    def __init__(
        self, name: str, net: nn.Module, out_dim: int, spec: LogMelSpec, *, device: str | torch.device = "cpu"
    ) -> None:
        self.name = name
        self.out_dim = out_dim
        self.spec = spec
        self.device = torch.device(device)
        self.front_end = LogMel(spec).to(self.device)
        self.net = net.eval().to(self.device)  # (P, 1, 96, 64) patches -> (P, out_dim) embeddings

    def log_mel(self, waveform: np.ndarray | Tensor, min_samples: int = 0) -> Tensor:
        """(L,) waveform -> (F, 64) log-mel, zero-padding the waveform to `min_samples` first."""
        x = as_waveform(waveform, self.name).to(self.device)
        if x.numel() < min_samples:
            x = nn.functional.pad(x, (0, min_samples - x.numel()))  # silence, as YAMNet pads short clips
        return self.front_end(x)

    def segment_patches(self, waveform: np.ndarray | Tensor, num_segments: int) -> Tensor:
        """(L,) waveform -> (T, 1, 96, 64): the patch starting at each whole second t < T."""
        s = self.spec
        if num_segments < 1:
            raise ValueError(f"{self.name}: num_segments must be >= 1, got {num_segments}")
        waveform = as_waveform(waveform, self.name)
        length = waveform.numel()
        # segment t must have started inside the waveform; only the tail of the last one may be padded
        if length <= (num_segments - 1) * s.sample_rate:
            raise ValueError(
                f"{self.name}: {num_segments} segments need more than {num_segments - 1} s of audio "
                f"(> {(num_segments - 1) * s.sample_rate} samples at {s.sample_rate} Hz), got {length}"
            )
        needed = (num_segments - 1) * s.sample_rate + s.patch_samples
        spectrogram = self.log_mel(waveform[:needed], needed)  # (F, 64): audio past the last patch is unused
        starts = torch.arange(num_segments, device=self.device) * s.frames_per_second  # frame 100 t
        rows = starts[:, None] + torch.arange(s.patch_frames, device=self.device)  # (T, 96)
        return spectrogram[rows].unsqueeze(1)  # (T, 96, 64) -> (T, 1, 96, 64)

    @torch.inference_mode()
    def __call__(self, waveform: np.ndarray | Tensor, num_segments: int) -> Tensor:
        """(L,) 16 kHz mono float waveform -> (num_segments, out_dim) float32 embeddings on the CPU."""
        return self.net(self.segment_patches(waveform, num_segments)).float().cpu()


def sliding_patches(log_mel: Tensor, patch_frames: int, hop_frames: int) -> Tensor:
    """(F, 64) log-mel -> (P, 1, patch_frames, 64) patches every `hop_frames`, P = 1 + (F - patch) // hop."""
    if log_mel.shape[0] < patch_frames:
        raise ValueError(f"need at least {patch_frames} log-mel frames for one patch, got {log_mel.shape[0]}")
    patches = log_mel.unfold(0, patch_frames, hop_frames)  # (P, 64, patch_frames)
    return patches.transpose(1, 2).unsqueeze(1)  # (P, 1, patch_frames, 64)
