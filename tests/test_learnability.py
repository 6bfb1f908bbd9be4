"""A model that trains is not a model that learns: planted signals must be found, on every task.

Every model (the baseline, the full co-attention model and its five Table V ablations) trains for
a few hundred Adam steps (lr 1e-3, batch 32, seed 0) on planted sets (avel/bench/planted.py) whose
channels have their own scales over two decades and their own offsets, with the visual map about
30 times the audio's, as real VGGish and VGG19 pool5 features differ: one fitted number per modality
(avel/models/scaling.py) cannot undo that. It must then find a signal on held-out videos:
- SEL: in the audio only, or in one visual cell that moves each second only;
- WSEL: in both, from video labels only (with background-only videos, AVE's noisy set);
- CML: in both, from the event / background pairing only (eq. 5), scored by A2V and V2A.
Small sizes (C_a 32, C_v 64, 4 x 4 grid) keep the runs within a few minutes on 2 cores; each run is
trained once per session (`trained`) and shared by the tests that read it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from avel.bench.planted import SMALL_SIZES, PlantedSpec, one_hot_labels, planted_set
from avel.common import metrics
from avel.common.classes import AVE_CLASSES
from avel.common.config import ABLATIONS, ModelConfig
from avel.models import build_model, compute_loss

STEPS = {"sel": 150, "wsel": 400, "cml": 150}
BATCH, LR = 32, 1e-3
NUM_TRAIN, NUM_BACKGROUND, NUM_TEST = 192, 24, 96
MIN_SEL_ACCURACY = 0.9  # held-out segment accuracy (majority chance about 0.5)
MIN_WSEL_ACCURACY = 0.9  # on the event seconds (majority chance about 0.25)
MIN_CML_OVER_CHANCE = 0.3  # mean of A2V and V2A, over the protocol's chance (about 0.2)
# Each modality alone in SEL; both together in WSEL and CML (a model must combine them there).
SEL_SIGNALS = ("audio", "visual")
MODELS = [("baseline", "full")] + [("coatt", ablation) for ablation in ABLATIONS]
# CSEA alone sees the visual map only through its grid average G(F_sem^v) (eq. 3-4), which
# dilutes one cell by 1/(H x W): it cannot localize a one-cell signal, by the paper's design.
CANNOT_SEE_ONE_CELL = {("coatt", "csea")}


def planted(signal: str, split: str) -> dict[str, np.ndarray]:
    """The planted split (train with WSEL's background-only videos appended, or test)."""
    spec = PlantedSpec(signal=signal, **SMALL_SIZES)
    if split == "test":
        return planted_set(spec, NUM_TEST, seed=2)
    videos = planted_set(spec, NUM_TRAIN, seed=1)
    background = planted_set(spec, NUM_BACKGROUND, seed=3, background_only=True)
    return {name: np.concatenate([videos[name], background[name]]) for name in videos}


def task_batch(data: dict[str, np.ndarray], rows: np.ndarray, task: str) -> dict[str, torch.Tensor]:
    """The loss's targets for `rows`: one-hot segment labels (SEL), video labels (WSEL), event (CML)."""
    if task == "sel":
        return {"labels": torch.from_numpy(one_hot_labels(data["labels"][rows]))}
    if task == "wsel":
        return {"video_label": torch.from_numpy(one_hot_labels(data["video_label"][rows]))}
    return {"event": torch.from_numpy(data["event"][rows])}


def fit(model: str, ablation: str, task: str, signal: str) -> nn.Module:
    """Train as avel.training.train does (the input scale fitted on the training rows); SEL and CML
    train on the event videos only, WSEL also on the background-only ones."""
    data = planted(signal, "train")
    rows = np.arange(NUM_TRAIN + (NUM_BACKGROUND if task == "wsel" else 0))
    torch.manual_seed(0)
    cfg = ModelConfig(model=model, task=task, ablation=ablation, **PlantedSpec(**SMALL_SIZES).model_sizes)
    net = build_model(cfg)
    net.input_scale.fit(data["audio"][rows], data["visual"][rows])
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    audio, visual = torch.from_numpy(data["audio"]), torch.from_numpy(data["visual"])
    generator = np.random.default_rng(0)
    for _ in range(STEPS[task]):
        batch = generator.choice(rows, BATCH)
        loss = compute_loss(net(audio[batch], visual[batch]), task_batch(data, batch, task), cfg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


@torch.no_grad()
def held_out_score(net: nn.Module, task: str, signal: str) -> tuple[float, float]:
    """(held-out score, its chance): segment accuracy and majority chance (SEL), accuracy on the
    event seconds and their majority chance (WSEL: max-pooled video labels say which event, never
    when, so the BiLSTMs spread it over the video's background seconds as well), or the mean of
    A2V and V2A and the protocol's chance (CML)."""
    test = planted(signal, "test")
    output = net(torch.from_numpy(test["audio"]), torch.from_numpy(test["visual"]))
    if task == "cml":
        distances, event = output.distances().numpy(), test["event"]
        score = np.mean([metrics.cml_accuracy(distances, event, d) for d in metrics.CML_DIRECTIONS])
        return float(score), metrics.cml_chance(event)
    truth, predicted = test["labels"], output.scores().argmax(-1).numpy()
    scored = test["event"] > 0 if task == "wsel" else np.ones_like(truth, dtype=bool)
    chance = metrics.majority_chance(truth[scored], len(AVE_CLASSES))
    return float((predicted == truth)[scored].mean()), chance


@cache
def trained(model: str, ablation: str, task: str, signal: str) -> tuple[float, float]:
    """One run's (held-out score, chance), trained once per session and shared between tests."""
    return held_out_score(fit(model, ablation, task, signal), task, signal)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> None:
    """One intra-op thread: these models are tiny, and spinning threads cost more on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_planted_features_are_not_one_scale_per_modality() -> None:
    """The guard on this file's premise: after dividing each modality by its RMS (what InputScale
    does), channel RMS still spans more than a decade and channel means are far from 0, and the
    visual map is about 30 times the audio."""
    data = planted("both", "train")
    for name in ("audio", "visual"):
        channels = data[name].reshape(-1, data[name].shape[-1]) / np.sqrt(np.mean(data[name] ** 2))
        spread = np.sqrt((channels**2).mean(0))
        assert spread.max() / spread.min() > 10, name
        assert (channels.mean(0) > 0.5 * channels.std(0)).mean() > 0.5, name
    ratio = np.sqrt(np.mean(data["visual"] ** 2) / np.mean(data["audio"] ** 2))
    assert 20 < ratio < 45


def test_planted_audio_spreads_like_the_real_vggish_rows(shared_ave_dir: Path) -> None:
    """The profile's grounds: AVE's VGGish rows (the background-only set in ../shared/ave) spread
    their channel RMS over 1.5 decades (5th to 95th percentile) with mean / std up to about 1;
    the planted audio must be as spread and as far from centred, not more."""
    with h5py.File(shared_ave_dir / "audio_feature_noisy.h5", "r") as handle:
        real = np.asarray(handle["avadataset"], dtype=np.float64)
    planted_audio = planted("both", "train")["audio"].astype(np.float64)
    profiles = [_channel_profile(features) for features in (real, planted_audio)]
    (real_decades, real_centre), (planted_decades, planted_centre) = profiles
    assert 1.0 < real_decades < 2.0 and 1.0 < planted_decades < 2.0
    assert 0.3 < real_centre < 1.0 and 0.3 < planted_centre < 1.5


def _channel_profile(features: np.ndarray) -> tuple[float, float]:
    """(decades between the 5th and 95th percentile of channel RMS, median channel mean / std)."""
    rows = features.reshape(-1, features.shape[-1])
    channel_rms, mean, std = np.sqrt((rows**2).mean(0)), rows.mean(0), rows.std(0)
    used = std > 0
    low, high = np.percentile(channel_rms[used], [5, 95])
    return float(np.log10(high / low)), float(np.median(mean[used] / std[used]))


@pytest.mark.parametrize("signal", SEL_SIGNALS)
@pytest.mark.parametrize(("model", "ablation"), MODELS)
def test_sel_learns_the_planted_signal(model: str, ablation: str, signal: str) -> None:
    if signal == "visual" and (model, ablation) in CANNOT_SEE_ONE_CELL:
        pytest.skip("CSEA alone cannot localize one cell: it sees the grid only through its average")
    accuracy, chance = trained(model, ablation, "sel", signal)
    assert chance < 0.6
    assert accuracy >= MIN_SEL_ACCURACY, f"{model}/{ablation}, {signal} signal: {accuracy:.3f}"


@pytest.mark.parametrize(("model", "ablation"), MODELS)
def test_wsel_learns_from_video_labels(model: str, ablation: str) -> None:
    accuracy, chance = trained(model, ablation, "wsel", "both")
    assert chance < 0.4
    assert accuracy >= MIN_WSEL_ACCURACY, f"{model}/{ablation} WSEL: {accuracy:.3f} (chance {chance:.3f})"


@pytest.mark.parametrize(("model", "ablation"), MODELS)
def test_cml_learns_to_match_the_event(model: str, ablation: str) -> None:
    score, chance = trained(model, ablation, "cml", "both")
    assert score >= chance + MIN_CML_OVER_CHANCE, f"{model}/{ablation} CML: {score:.3f} (chance {chance:.3f})"
