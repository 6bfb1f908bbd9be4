"""The soundtrack of a composite video: ambient bed + event recording at a set SNR, level-free.

Recordings are first reduced to their active content (gaps and digital silence dropped), so an
"audible" second really contains the sound. Every second of the mix is then brought to the same
RMS with a gain that changes only in short ramps at the boundaries: the event seconds are not
louder than the others, so level alone does not reveal the label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avel.bench.catalog import load_wav
from avel.bench.plan import Look, VideoPlan
from avel.common.config import CompositeConfig

FRAME_S = 0.025  # frame for finding the active content: the 25-ms window of the VGGish/YAMNet front end
MIN_RUN_S = 0.1  # active runs shorter than this are dropped: too short to fade in and out


def fade(x: np.ndarray, n: int) -> np.ndarray:
    """A copy of `x` with `n`-sample raised-cosine fades at both ends (no clicks at cuts)."""
    y = x.astype(np.float32, copy=True)
    n = min(n, len(y) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, endpoint=False))).astype(np.float32)
        y[:n] *= ramp
        y[len(y) - n :] *= ramp[::-1]
    return y


def active_content(x: np.ndarray, cfg: CompositeConfig, where: Path) -> np.ndarray:
    """The runs of `x` louder than `active_floor_db` below its loudest frame, each faded, chained."""
    hop = int(FRAME_S * cfg.sample_rate)
    frames = len(x) // hop
    rms = np.sqrt((x[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1))  # (frames,)
    if frames == 0 or rms.max() == 0:
        raise ValueError(f"{where}: expected a recording with sound, found {len(x)} samples without any")
    active = rms > rms.max() * 10 ** (cfg.active_floor_db / 20)
    # run boundaries: indices where `active` switches on / off
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    runs = [(a * hop, b * hop) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    long_runs = [r for r in runs if r[1] - r[0] >= MIN_RUN_S * cfg.sample_rate]
    runs = long_runs or [max(runs, key=lambda r: r[1] - r[0])]  # a clip of clicks keeps its longest
    n_fade = int(cfg.fade_s * cfg.sample_rate)
    return np.concatenate([fade(x[a:b], n_fade) for a, b in runs])


def loop_to(x: np.ndarray, n: int, phase: float) -> np.ndarray:
    """`n` samples of `x` repeated from `phase` (share of its length); `x` must have faded ends
    (active_content's output) so that the joints do not click."""
    start = int(phase * len(x)) % len(x)
    reps = -(-(start + n) // len(x))  # ceil
    return np.tile(x, reps)[start : start + n]


def segment_rms(x: np.ndarray, sr: int) -> np.ndarray:
    """RMS of each whole 1-s segment, (T,)."""
    seconds = len(x) // sr
    return np.sqrt(np.mean(np.square(x[: seconds * sr].reshape(seconds, sr), dtype=np.float64), axis=1))


def gain_curve(gain: np.ndarray, cfg: CompositeConfig) -> np.ndarray:
    """Per-sample gain, (T * sr,): `gain[t]` inside second t, raised-cosine ramps of `gain_ramp_s`
    centred on the boundaries (a step in gain would click)."""
    sr = cfg.sample_rate
    curve = np.repeat(gain, sr)  # (T * sr,) piecewise constant
    half = int(cfg.gain_ramp_s * sr) // 2
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, 2 * half, endpoint=False))  # (2 * half,)
    for t in range(1, len(gain)):
        lo = t * sr - half
        curve[lo : lo + 2 * half] = gain[t - 1] + (gain[t] - gain[t - 1]) * ramp
    return curve


def level_per_second(x: np.ndarray, cfg: CompositeConfig) -> np.ndarray:
    """Bring every 1-s segment to `target_dbfs` RMS, unless its peak would pass `peak_dbfs`
    (impulsive sounds: clicks, knocks) or the gain `max_gain_db`."""
    sr = cfg.sample_rate
    seconds = len(x) // sr
    peak = np.abs(x[: seconds * sr].reshape(seconds, sr)).max(axis=1)  # (T,)
    gain = np.minimum.reduce(
        [
            10 ** (cfg.target_dbfs / 20) / np.maximum(segment_rms(x, sr), 1e-12),
            10 ** (cfg.peak_dbfs / 20) / np.maximum(peak, 1e-12),
            np.full(seconds, 10 ** (cfg.max_gain_db / 20)),
        ]
    )  # (T,)
    # A ramp can lift a sample near a boundary a little past the ceiling; the clip is a guard.
    return np.clip(x[: seconds * sr] * gain_curve(gain, cfg), -1.0, 1.0).astype(np.float32)


def render_audio(plan: VideoPlan, media_root: Path, cfg: CompositeConfig) -> np.ndarray:
    """The video's 16-kHz mono soundtrack, float32 of `seconds * sample_rate` samples."""
    sr, n = cfg.sample_rate, cfg.seconds * cfg.sample_rate
    bed = np.concatenate(
        [active_content(load_wav(media_root / p, sr), cfg, media_root / p) for p in plan.ambient]
    )
    ambient = loop_to(bed, n, plan.ambient_phase)
    event = np.zeros(n, dtype=np.float32)
    start, end = plan.audible
    if end > start:
        sound = active_content(load_wav(media_root / plan.sound, sr), cfg, media_root / plan.sound)
        event[start * sr : end * sr] = fade(
            loop_to(sound, (end - start) * sr, plan.sound_phase), int(cfg.fade_s * sr)
        )
        # SNR = 20 log10(rms(event) / rms(ambient)) in EVERY audible second, so none of them is
        # audible in name only (a quiet stretch of the recording under loud ambience).
        event_rms = segment_rms(event, sr)  # (T,), 0 outside the audible seconds
        want = 10 ** (plan.snr_db / 20) * segment_rms(ambient, sr)  # (T,)
        gain = np.minimum(want / np.maximum(event_rms, 1e-12), 10 ** (cfg.max_gain_db / 20))
        gain[event_rms == 0] = 0.0
        event *= gain_curve(gain, cfg)
    return level_per_second(band_limit(ambient + event, sr, plan.look), cfg)


def band_limit(x: np.ndarray, sr: int, look: Look) -> np.ndarray:
    """`x` through a microphone's band: 2nd-order Butterworth magnitudes at `highpass_hz` and
    `lowpass_hz`, applied in the frequency domain with zero phase (no delay: labels stay aligned)."""
    if look.highpass_hz <= 0 and look.lowpass_hz >= sr / 2:
        return x
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)  # (n // 2 + 1,)
    response = 1.0 / np.sqrt(1.0 + (freqs / look.lowpass_hz) ** 4)
    if look.highpass_hz > 0:
        response /= np.sqrt(1.0 + (look.highpass_hz / np.maximum(freqs, 1e-3)) ** 4)
    return np.fft.irfft(np.fft.rfft(x) * response, n=len(x)).astype(np.float32)
