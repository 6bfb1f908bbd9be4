"""Training, resuming, selection, --init, checkpoints and evaluation on the tiny `random_ave_dir`."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from avel.bench.boxes import read_object_boxes
from avel.commands import main
from avel.common.config import ModelConfig, RunConfig, TrainConfig, from_dict
from avel.common.metrics import cml_chance, majority_chance
from avel.data import AVEDirectory, FeaturesInfo
from avel.models import build_model
from avel.models.scaling import rms
from avel.training.checkpoint import (
    check_data_matches,
    init_from_checkpoint,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from avel.training.evaluate import evaluate_checkpoint
from avel.training.train import INPUT_SCALE_STATE, TrainResult, train

LEARN_EPOCHS = 15  # enough for SEL to separate the fixture's 4 event prototypes from noise
CELL_PIXELS = 10  # the attention test's manifest: a frame of 3 x 3 cells of 10 pixels
TINY_BATCH = 8  # 3 shuffled batches per epoch: resuming must restore the shuffling too


def _run(data: Path, out: Path, task: str = "sel", model: str = "coatt", **train_args: object) -> RunConfig:
    # CPU even where CUDA exists: bit-exact determinism and resume are promised on CPU only.
    train_config = TrainConfig(**{"epochs": 2, "batch_size": TINY_BATCH, "device": "cpu", **train_args})
    return RunConfig(
        data=str(data), out=str(out), model=ModelConfig(model=model, task=task), train=train_config
    )


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model_state"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: these models are tiny, and spinning threads cost more on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sel_run(one_thread: None, random_ave_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train(_run(random_ave_dir, tmp_path_factory.mktemp("runs") / "sel", epochs=LEARN_EPOCHS))


def test_sel_beats_chance_and_selects_on_validation(sel_run: TrainResult) -> None:
    assert sel_run.test["accuracy"] > sel_run.test["chance"] + 0.15
    history = _history(sel_run.out)
    assert [record["epoch"] for record in history] == list(range(1, LEARN_EPOCHS + 1))
    val = [record["val_accuracy"] for record in history]
    assert sel_run.best_epoch == int(np.argmax(val)) + 1  # first epoch with the best validation score
    best = read_checkpoint(sel_run.out / "best.pt")
    assert best["epoch"] == sel_run.best_epoch
    assert best["metrics"]["val"]["accuracy"] == pytest.approx(max(val))
    assert best["metrics"]["test"]["accuracy"] == pytest.approx(sel_run.test["accuracy"])
    assert {p.name for p in sel_run.out.iterdir()} == {"best.pt", "last.pt", "history.jsonl", "config.json"}


@pytest.mark.parametrize(
    ("task", "model"),
    [("sel", "baseline"), ("wsel", "coatt"), ("wsel", "baseline"), ("cml", "coatt"), ("cml", "baseline")],
)
def test_cli_trains_and_evaluates_every_task(
    task: str,
    model: str,
    random_ave_dir: Path,
    sel_run: TrainResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    args = ["train", "--task", task, "--model", model, "--data", str(random_ave_dir), "--out", str(out)]
    args += ["--epochs", "2", "--batch-size", str(TINY_BATCH), "--lambda", "0.9", "--device", "cpu"]
    if (task, model) == ("cml", "coatt"):
        # CML starts from the MMEL model, as in the paper; this SEL run trained on CML test rows
        args += ["--init", str(sel_run.out / "best.pt"), "--allow-init-overlap"]
    assert main(args) == 0
    assert f"best epoch {read_checkpoint(out / 'best.pt')['epoch']} of 2" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["model"][{"sel": "lambda_s", "wsel": "lambda_w", "cml": "lambda_c"}[task]] == 0.9
    assert (config["model"]["audio_dim"], config["model"]["visual_dim"], config["model"]["grid_h"]) == (
        128,
        16,
        3,
    )

    assert main(["evaluate", str(out), "--data", str(random_ave_dir), "--json", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    result = json.loads(printed[-1])
    assert (result["task"], result["model"], result["ablation"], result["split"]) == (
        task,
        model,
        "full",
        "test",
    )
    stored_test = read_checkpoint(out / "best.pt")["metrics"]["test"]
    test_split = AVEDirectory(random_ave_dir).dataset("test", task)
    if task == "cml":
        assert printed[0].startswith("Table II (CML)")
        assert 0.0 <= result["a2v"] <= 1.0 and 0.0 <= result["v2a"] <= 1.0
        assert (result["a2v"], result["v2a"]) == pytest.approx((stored_test["a2v"], stored_test["v2a"]))
        assert result["chance"] == pytest.approx(cml_chance(test_split.event))
    else:
        assert printed[0].startswith(f"Table {'III' if task == 'sel' else 'IV'} ({task.upper()})")
        assert result["accuracy"] == pytest.approx(stored_test["accuracy"])
        assert result["chance"] == pytest.approx(majority_chance(test_split.labels.argmax(-1), 29))
        assert sum(map(sum, result["confusion"])) == result["num_segments"] == 80
        assert len(result["per_class"]) == 29


def test_cml_init_that_saw_cml_test_rows_is_refused_unless_overridden(
    random_ave_dir: Path, sel_run: TrainResult, tmp_path: Path
) -> None:
    data = AVEDirectory(random_ave_dir)
    cml_test = set(data.order("test", "cml").tolist())
    trained_on = set(data.order("train", "sel").tolist()) & cml_test
    leaked = set(data.order("val", "sel").tolist()) & cml_test | trained_on
    assert trained_on and leaked != trained_on  # the fixture's splits overlap, as AVE's do, in val too
    cml = _run(random_ave_dir, tmp_path / "cml", task="cml", epochs=1, init=str(sel_run.out / "best.pt"))
    with pytest.raises(ValueError, match=f"trained or selected on {len(leaked)} of the 8 CML test videos"):
        train(cml)
    legacy = read_checkpoint(sel_run.out / "best.pt")  # written before val_rows were recorded
    del legacy["provenance"]["val_rows"]
    save_checkpoint(legacy, tmp_path / "legacy.pt")
    with pytest.raises(ValueError, match=f"trained or selected on {len(leaked)} of the 8 CML test videos"):
        train(_run(random_ave_dir, tmp_path / "cml", task="cml", epochs=1, init=str(tmp_path / "legacy.pt")))
    assert not (tmp_path / "cml").exists()
    overridden = _run(
        random_ave_dir, tmp_path / "cml", task="cml", epochs=1, init=str(sel_run.out / "best.pt")
    )
    overridden.train.allow_init_overlap = True
    train(overridden)
    assert read_checkpoint(tmp_path / "cml" / "best.pt")["provenance"]["init_test_overlap"] == len(leaked)
    init_scale = {name: _weights(sel_run.out / "best.pt")[name] for name in INPUT_SCALE_STATE}
    assert all(torch.equal(_weights(tmp_path / "cml" / "best.pt")[k], v) for k, v in init_scale.items())

    clean_sel = _run(random_ave_dir, tmp_path / "sel-match", epochs=1, orders="match")
    train(clean_sel)
    provenance = read_checkpoint(tmp_path / "sel-match" / "best.pt")["provenance"]
    assert provenance["train_rows"] == data.order("train", "cml").tolist()  # train_order_match
    clean_init = str(tmp_path / "sel-match" / "best.pt")
    clean = _run(random_ave_dir, tmp_path / "cml-clean", task="cml", epochs=1, init=clean_init)
    train(clean)
    assert read_checkpoint(tmp_path / "cml-clean" / "best.pt")["provenance"]["init_test_overlap"] == 0


def test_same_seed_same_weights(random_ave_dir: Path, tmp_path: Path) -> None:
    runs = {
        name: _run(random_ave_dir, tmp_path / name, epochs=1, seed=seed)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }
    for run in runs.values():
        train(run)
    first, again, other = (_weights(Path(run.out) / "last.pt") for run in runs.values())
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_resumed_run_equals_uninterrupted_run(random_ave_dir: Path, tmp_path: Path) -> None:
    interrupted = tmp_path / "interrupted"
    train(_run(random_ave_dir, interrupted, epochs=2))  # as if stopped after epoch 2 of 4
    resumed = train(_run(random_ave_dir, interrupted, epochs=4))
    whole = train(_run(random_ave_dir, tmp_path / "whole", epochs=4))

    resumed_state, whole_state = _weights(interrupted / "last.pt"), _weights(tmp_path / "whole" / "last.pt")
    assert all(torch.equal(resumed_state[name], whole_state[name]) for name in whole_state)
    drop_time = [{k: v for k, v in record.items() if k != "seconds"} for record in _history(interrupted)]
    assert drop_time == [
        {k: v for k, v in record.items() if k != "seconds"} for record in _history(whole.out)
    ]
    assert (resumed.best_epoch, resumed.test) == (whole.best_epoch, whole.test)

    again = train(_run(random_ave_dir, interrupted, epochs=4))  # a finished run trains no further
    assert len(_history(interrupted)) == 4 and again.best_epoch == whole.best_epoch
    with pytest.raises(ValueError, match=r"train\.lr: expected 0\.001, found 0\.01"):
        train(_run(random_ave_dir, interrupted, epochs=5, lr=0.01))


def test_patience_stops_once_validation_stops_improving_and_stays_stopped(
    sel_run: TrainResult, random_ave_dir: Path, tmp_path: Path
) -> None:
    val = [record["val_accuracy"] for record in _history(sel_run.out)]
    # the first epoch that brings no new best: patience 1 trains it, then stops
    stale = next(epoch for epoch in range(2, len(val) + 1) if val[epoch - 1] <= max(val[: epoch - 1]))
    assert stale < LEARN_EPOCHS  # else the fixture does not exercise the stop
    run = _run(random_ave_dir, tmp_path / "patient", epochs=LEARN_EPOCHS, patience=1)
    stopped = train(run)
    assert [record["epoch"] for record in _history(stopped.out)] == list(range(1, stale + 1))
    assert stopped.best_epoch == int(np.argmax(val[:stale])) + 1  # the same seed trains the same epochs
    train(run)  # resuming a stopped run trains nothing more
    assert len(_history(stopped.out)) == stale


def test_input_scale_is_fitted_on_the_training_rows_and_stored(
    sel_run: TrainResult, random_ave_dir: Path
) -> None:
    data, stored = AVEDirectory(random_ave_dir), _weights(sel_run.out / "best.pt")
    splits = {split: data.dataset(split, "sel") for split in ("train", "val", "test")}
    for modality in ("audio", "visual"):
        fitted = float(stored[f"input_scale.{modality}_rms"])
        assert fitted == pytest.approx(rms(getattr(splits["train"], modality)), rel=1e-6)
        every_row = np.concatenate([getattr(split, modality) for split in splits.values()])
        assert fitted != pytest.approx(rms(every_row), rel=1e-4)  # the fixture's splits differ


def test_init_keeps_its_input_scale_and_warns_when_the_data_differs(
    sel_run: TrainResult, random_ave_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CML --init: the copied layers learned on features divided by the init's scale, so it stays;
    an init whose scale is far from the new training rows' RMS is kept with a warning."""
    init = read_checkpoint(sel_run.out / "best.pt")
    init["model_state"]["input_scale.audio_rms"] *= 3.0
    save_checkpoint(init, tmp_path / "init.pt")
    run = _run(random_ave_dir, tmp_path / "cml", task="cml", epochs=1, init=str(tmp_path / "init.pt"))
    run.train.allow_init_overlap = True
    with caplog.at_level("WARNING", logger="avel.training.train"):
        train(run)
    stored = _weights(tmp_path / "cml" / "best.pt")
    assert all(torch.equal(stored[name], init["model_state"][name]) for name in INPUT_SCALE_STATE)
    warnings = [record.getMessage() for record in caplog.records if "kept its" in record.getMessage()]
    assert len(warnings) == 1 and "kept its audio input scale" in warnings[0]  # visual: within tolerance


def test_init_copies_matching_layers_only(sel_run: TrainResult) -> None:
    source = _weights(sel_run.out / "best.pt")
    sel_config = from_dict(ModelConfig, read_checkpoint(sel_run.out / "best.pt")["model_config"])
    model = build_model(replace(sel_config, task="cml"))
    loaded, skipped = init_from_checkpoint(model, sel_run.out / "best.pt")
    state = model.state_dict()
    assert any("lstm" in name for name in loaded) and skipped  # encoders shared, CML heads new
    assert all(torch.equal(state[name], source[name]) for name in loaded)
    assert all(name not in source or source[name].shape != state[name].shape for name in skipped)
    with pytest.raises(ValueError, match="no tensor matches"):
        init_from_checkpoint(nn.Linear(3, 3), sel_run.out / "best.pt")


def test_with_cspa_weight_sets_the_tasks_stream_weight() -> None:
    assert ModelConfig(task="wsel").with_cspa_weight(0.2).cspa_weight == 0.2
    assert ModelConfig(task="cml").with_cspa_weight(1.0).lambda_s == ModelConfig().lambda_s
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        ModelConfig().with_cspa_weight(1.5)


def test_bad_checkpoints_give_clear_errors(
    sel_run: TrainResult, random_ave_dir: Path, tmp_path: Path
) -> None:
    good = read_checkpoint(sel_run.out / "best.pt")
    name = next(k for k, v in good["model_state"].items() if v.dim() == 2)
    shape = tuple(good["model_state"][name].shape)
    cases = {
        "reshaped": (
            {"model_state": {**good["model_state"], name: torch.zeros(shape[0] + 1, shape[1])}},
            rf"{re.escape(name)}: expected \({shape[0]}, {shape[1]}\), found \({shape[0] + 1}, {shape[1]}\)",
        ),
        "config": (
            {"model_config": {**good["model_config"], "audio_dim": 64}},
            "audio_dim: expected 64, found 128",
        ),
        "format": ({"format": "other/9"}, "expected checkpoint format 'avel.checkpoint/1', found 'other/9'"),
    }
    for case, (change, message) in cases.items():
        torch.save({**good, **change}, tmp_path / f"{case}.pt")
        with pytest.raises(ValueError, match=message):
            load_checkpoint(tmp_path / f"{case}.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="expected an avel checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")

    loaded = load_checkpoint(sel_run.out / "best.pt")
    data = AVEDirectory(random_ave_dir)
    with pytest.raises(ValueError, match="visual_dim: expected 16, found 32"):
        check_data_matches(loaded, replace(data.dims, visual_dim=32), data.classes, random_ave_dir)
    with pytest.raises(ValueError, match="first difference at 1: 'Male speech, man speaking' vs 'Dog'"):
        check_data_matches(loaded, data.dims, (data.classes[0], "Dog", *data.classes[2:]), random_ave_dir)
    info = FeaturesInfo(
        visual_backbone="vgg19",
        audio_backbone="vggish",
        frames_per_segment=1,
        frame_size=224,
        sample_rate=16000,
        segments=10,
        grid=(7, 7),
        audio_dim=128,
        visual_dim=512,
        native_audio_dim=128,
        native_visual_dim=512,
        projection=None,
        num_videos=1,
        num_skipped=0,
    )
    (tmp_path / "features.json").write_bytes(info.to_json())
    mobilenet = replace(loaded, features_info=replace(info, visual_backbone="mobilenet_v2"))
    with pytest.raises(ValueError, match="visual_backbone: expected 'mobilenet_v2', found 'vgg19'"):
        check_data_matches(mobilenet, data.dims, data.classes, tmp_path)


def test_single_modality_run_is_scored_on_that_modality(random_ave_dir: Path, tmp_path: Path) -> None:
    """A visual-only model is evaluated with the audio zeroed again, so `evaluate` reproduces best.pt."""
    from avel.training.evaluate import evaluate_checkpoint

    result = train(_run(random_ave_dir, tmp_path / "visual", epochs=LEARN_EPOCHS, modalities="visual"))
    assert load_checkpoint(result.out / "best.pt").train_config.modalities == "visual"
    scored = evaluate_checkpoint(result.out, random_ave_dir, "test", device="cpu")
    assert scored["modalities"] == "visual"
    assert scored["accuracy"] == pytest.approx(result.test["accuracy"])
    assert scored["confusion"] == result.test["confusion"]


def test_strict_cml_hides_the_query_modality_outside_its_span() -> None:
    from avel.training.evaluate import strict_cml_distances

    class Recorder(torch.nn.Module):
        """Stands in for a CML model: records its inputs, returns zero distances."""

        def forward(self, audio: torch.Tensor, visual: torch.Tensor):
            self.seen = (audio.clone(), visual.clone())
            return type("Out", (), {"distances": lambda _: torch.zeros(len(audio), 4, 4)})()

    audio, visual = torch.ones(1, 4, 3), torch.ones(1, 4, 2, 2, 5)
    event = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    model = Recorder()
    strict_cml_distances(model, audio, visual, event, "a2v")
    assert model.seen[0][0, :, 0].tolist() == [0, 1, 1, 0] and (model.seen[1] == 1).all()
    strict_cml_distances(model, audio, visual, event, "v2a")
    assert (model.seen[0] == 1).all() and model.seen[1][0, :, 0, 0, 0].tolist() == [0, 1, 1, 0]


def test_bundled_checkpoints_share_one_projection_and_load_alike(
    sel_run: TrainResult, tmp_path: Path
) -> None:
    from avel.features.projection import Projection
    from avel.training.checkpoint import bundle_checkpoints, save_checkpoint

    rng = np.random.default_rng(0)
    clips = [
        (rng.random((10, 160), dtype=np.float32), rng.random((10, 3, 3, 20), dtype=np.float32))
        for _ in range(40)
    ]
    projection = Projection.fit(clips, 16, 128, visual_backbone="v", audio_backbone="a")
    checkpoint = read_checkpoint(sel_run.out / "best.pt")
    checkpoint["features"] = {"info": None, "projection": projection.to_dict()}
    sources = {}
    for name in ("a.pt", "b.pt"):
        save_checkpoint(checkpoint, tmp_path / "runs" / name)
        sources[name] = tmp_path / "runs" / name
    bundle_checkpoints(sources, tmp_path / "bundle")
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["a.pt", "b.pt", "projection.pt"]
    assert read_checkpoint(tmp_path / "bundle" / "a.pt")["features"]["projection"] is None
    for name in sources:
        loaded, original = load_checkpoint(tmp_path / "bundle" / name), load_checkpoint(sources[name])
        assert loaded.projection is not None and loaded.projection.id == projection.id
        for key, value in original.model.state_dict().items():
            torch.testing.assert_close(loaded.model.state_dict()[key], value)
    (tmp_path / "bundle" / "projection.pt").unlink()
    with pytest.raises(ValueError, match=r"projection\.pt is missing beside it"):
        load_checkpoint(tmp_path / "bundle" / "a.pt")


def test_checkpoint_with_non_finite_weights_is_refused(sel_run: TrainResult, tmp_path: Path) -> None:
    from avel.training.checkpoint import save_checkpoint

    checkpoint = read_checkpoint(sel_run.out / "best.pt")
    name = next(iter(checkpoint["model_state"]))
    checkpoint["model_state"][name] = torch.full_like(checkpoint["model_state"][name], float("nan"))
    save_checkpoint(checkpoint, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=f"NaN or infinite values \\({name}"):
        load_checkpoint(tmp_path / "nan.pt")


def test_real_ave_cml_test_split_overlaps_train_order(shared_ave_dir: Path) -> None:
    """Why `--init` is checked: in the released AVE files 314 of the 402 CML test videos
    (test_order_match) are SEL training videos (train_order); the report then plans its CML
    inits on the match split."""
    from avel.report.plan import cml_init_orders

    data = AVEDirectory(shared_ave_dir)
    train_sel, test_cml = set(data.order("train", "sel").tolist()), set(data.order("test", "cml").tolist())
    assert (len(test_cml), len(train_sel & test_cml)) == (402, 314)
    assert not set(data.order("train", "cml").tolist()) & test_cml  # the clean path: train_order_match
    assert cml_init_orders(shared_ave_dir) == "match"


def _copy_with(
    random_ave_dir: Path, folder: Path, name: str, change: Callable[[np.ndarray], np.ndarray]
) -> Path:
    """A copy of the fixture dataset with one h5 file's array changed (its key kept)."""
    shutil.copytree(random_ave_dir, folder)
    with h5py.File(folder / name, "r+") as f:
        (key,) = f.keys()
        data = change(f[key][()])
        del f[key]
        f.create_dataset(key, data=data)
    return folder


@pytest.mark.parametrize("problem", ["repeated rows", "rows that are also test rows"])
def test_train_refuses_repeated_rows_and_test_rows_in_its_order(
    random_ave_dir: Path, tmp_path: Path, problem: str
) -> None:
    test_rows = AVEDirectory(random_ave_dir).order("test", "sel")
    added = (lambda rows: rows[:2]) if problem == "repeated rows" else (lambda rows: test_rows[:2])
    data = _copy_with(
        random_ave_dir, tmp_path / "data", "train_order.h5", lambda rows: np.concatenate([rows, added(rows)])
    )
    with pytest.raises(ValueError, match=f"sel training order has 2 {problem}"):
        train(_run(data, tmp_path / "run", epochs=1))
    assert not (tmp_path / "run").exists()


def test_evaluate_warns_when_the_features_scale_is_far_from_the_checkpoints(
    sel_run: TrainResult, random_ave_dir: Path, tmp_path: Path
) -> None:
    best = sel_run.out / "best.pt"
    assert evaluate_checkpoint(best, random_ave_dir, device="cpu")["warnings"] == []
    scaled = _copy_with(random_ave_dir, tmp_path / "scaled", "audio_feature.h5", lambda a: 10 * a)
    (warning,) = evaluate_checkpoint(best, scaled, device="cpu")["warnings"]
    ratio = float(re.search(r"\(([\d.]+)x\)", warning).group(1))  # 10x the test split's own RMS
    assert warning.startswith("the audio features' RMS is") and 5 < ratio < 20


def _planted_cell_manifest(data: AVEDirectory) -> dict:
    """A composite-style manifest whose box is random_ave_dir's planted cell (the cell with the
    most energy over the event seconds), in a 30-pixel frame."""
    videos = {}
    for name in ("train", "val", "test"):
        split = data.dataset(name, "sel", background=False)
        energy = np.abs(split.visual).sum(-1)  # (N, T, H, W)
        for video, row in enumerate(split.rows):
            event_energy = (energy[video] * split.event[video, :, None, None]).sum(0)  # (H, W)
            r, c = (int(i) for i in np.unravel_index(event_energy.argmax(), event_energy.shape))
            box = [c * CELL_PIXELS, r * CELL_PIXELS, (c + 1) * CELL_PIXELS, (r + 1) * CELL_PIXELS]
            videos[int(row)] = {"kind": "event", "bbox": [box] * split.event.shape[1]}
    ordered = [videos[row] for row in sorted(videos)]
    return {"config": {"seconds": 10, "frame_size": 3 * CELL_PIXELS}, "videos": ordered}


def test_evaluate_json_reports_the_attention_accuracy(
    random_ave_dir: Path, sel_run: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "composite"
    shutil.copytree(random_ave_dir, data_dir)
    (data_dir / "composite.json").write_text(json.dumps(_planted_cell_manifest(AVEDirectory(data_dir))))
    assert read_object_boxes(random_ave_dir) is None  # AVE data: no boxes, no attention block
    assert main(["evaluate", str(sel_run.out), "--data", str(data_dir), "--json", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    attention = json.loads(printed[-1])["attention"]
    assert any(line.startswith("Attention accuracy") for line in printed)
    assert attention["chance"] == pytest.approx(1 / 9)
    assert attention["num_seconds"] == int(AVEDirectory(data_dir).dataset("test", "sel").event.sum())
    # the co-attention model trained on the planted cell points at it more often than chance
    assert attention["pointing"] > attention["chance"] + 0.2, attention
