"""The stored dataset summary: what a fresh clone's dataset tab shows, and where a clip lands on it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avel.analysis.dataset import summarize_dataset
from avel.analysis.summary import FeatureMap, build_maps, load_summary, save_summary
from avel.bench.stats import MANIFEST
from avel.commands import main
from avel.common.config import ModelConfig, RunConfig, SummaryConfig, TrainConfig
from avel.data import AVEDirectory
from avel.models.output import FEATURE_NAMES
from avel.training.attention import ObjectBoxes, attention_accuracy
from avel.training.checkpoint import load_checkpoint
from avel.training.evaluate import checkpoint_dataset
from avel.training.train import train

SMALL = SummaryConfig(max_points=60, pca_dims=8, neighbours=5)


@pytest.fixture(scope="module")
def coatt(random_ave_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("summary") / "sel"
    train(
        RunConfig(
            data=str(random_ave_dir),
            out=str(out),
            model=ModelConfig(model="coatt", task="sel"),
            train=TrainConfig(epochs=2, batch_size=8, device="cpu"),
        )
    )
    return out / "best.pt"


def test_summary_round_trips_without_raw_features(coatt: Path, random_ave_dir: Path, tmp_path: Path) -> None:
    models = {"Co-attention": load_checkpoint(coatt)}
    summary = build_maps(summarize_dataset(models, random_ave_dir, "test"), SMALL)
    assert summary.map_model == "Co-attention" and set(summary.maps) == set(FEATURE_NAMES)
    assert all(len(m.coords) == 60 for m in summary.maps.values())
    save_summary(summary, tmp_path / "s.npz")
    loaded = load_summary(tmp_path / "s.npz")
    original, stored = summary.models["Co-attention"], loaded.models["Co-attention"]
    assert stored.accuracy == pytest.approx(original.accuracy)
    np.testing.assert_array_equal(stored.confusion, original.confusion)
    np.testing.assert_array_equal(loaded.labels, summary.labels)
    np.testing.assert_allclose(stored.probabilities, original.probabilities, atol=1e-3)  # float16
    assert stored.features == {} and loaded.classes == summary.classes
    for name, fmap in loaded.maps.items():
        np.testing.assert_allclose(fmap.coords, summary.maps[name].coords)


def test_summary_stores_attention_accuracy_given_boxes_and_an_older_file_still_loads(
    coatt: Path, random_ave_dir: Path, tmp_path: Path
) -> None:
    loaded = load_checkpoint(coatt, "cpu")
    boxes = np.full((40, 10, 4), np.nan)  # random_ave_dir: 40 videos of 10 s on a 3 x 3 grid
    boxes[:, 2:] = (0, 0, 10, 10)  # the top-left cell, seconds 2-9
    object_boxes = ObjectBoxes(boxes, frame_size=30)
    summary = summarize_dataset({"Co-attention": loaded}, random_ave_dir, "test", object_boxes)
    dataset = checkpoint_dataset(loaded, AVEDirectory(random_ave_dir), "test")
    expected = attention_accuracy(loaded.model, dataset, object_boxes, loaded.classes, torch.device("cpu"))
    assert summary.attention_measured and summary.models["Co-attention"].attention == expected
    assert expected["chance"] == pytest.approx(1 / 9) and set(expected["per_class"]) <= set(loaded.classes)
    save_summary(summary, tmp_path / "s.npz")
    stored = load_summary(tmp_path / "s.npz")
    assert stored.attention_measured and stored.models["Co-attention"].attention == expected
    summary.attention_measured = False  # as every file stored before attention accuracy
    save_summary(summary, tmp_path / "old.npz")
    old = load_summary(tmp_path / "old.npz")
    assert not old.attention_measured and old.models["Co-attention"].attention is None


def test_summarize_command_scores_attention_on_a_folder_with_a_manifest(
    coatt: Path, random_ave_dir: Path, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "bench"
    shutil.copytree(random_ave_dir, data)
    box = [0, 0, 10, 10]  # the top-left cell of the 3 x 3 grid, in every second of every video
    videos = [{"kind": "event", "bbox": [box] * 10} for _ in range(40)]
    manifest = {"config": {"seconds": 10, "frame_size": 30}, "videos": videos}
    (data / MANIFEST).write_text(json.dumps(manifest))
    out = tmp_path / "summary.npz"
    main(["summarize", f"Co-attention={coatt}", "--data", str(data), "--out", str(out), "--max-points", "50"])
    assert "attention pointing game: Co-attention" in capsys.readouterr().out
    stored = load_summary(out)
    assert stored.attention_measured and stored.models["Co-attention"].attention["chance"] == pytest.approx(
        1 / 9
    )


def test_a_stored_point_is_placed_on_itself_and_a_new_one_among_its_neighbours() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 20))
    labels = np.repeat(np.arange(3), 30)
    features = (centres[labels] + rng.normal(0, 0.3, (90, 20))).astype(np.float32)
    fmap = FeatureMap.fit(features, labels, SMALL)
    np.testing.assert_allclose(fmap.place(features[:5], SMALL.neighbours), fmap.coords[:5], atol=1e-3)
    new = (centres[2] + rng.normal(0, 0.3, (4, 20))).astype(np.float32)  # unseen seconds of class 2
    placed = fmap.place(new, SMALL.neighbours)  # (4, 2)
    distances = np.linalg.norm(placed[:, None] - fmap.coords[None], axis=-1)  # (4, 90)
    assert (labels[distances.argmin(axis=1)] == 2).all()


def test_summarize_command_writes_a_small_file(
    coatt: Path, random_ave_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "summary.npz"
    main(
        [
            "summarize",
            f"Co-attention={coatt}",
            "--data",
            str(random_ave_dir),
            "--out",
            str(out),
            "--max-points",
            "50",
        ]
    )
    assert "wrote" in capsys.readouterr().out
    assert load_summary(out).source == f"{random_ave_dir.name}, test split"
    out.write_bytes(b"not a summary")
    with pytest.raises(ValueError, match=r"summary\.npz: not a dataset summary"):
        load_summary(out)
