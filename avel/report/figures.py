"""The report's figures (PNG): Fig. 4 (confusion, per-class accuracy), Fig. 5 (lambda sweep), Fig. 7 (t-SNE).

Drawing is viz's job (confusion_matrix_figure, per_class_accuracy_figure, tsne_figure); this
module picks what to draw from the collected results. Only the sweep curves are drawn here, since
viz has no line plot of a hyper-parameter.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from avel.analysis.summary import DatasetSummary, ModelSummary
from avel.common.config import ModelConfig
from avel.models.output import FEATURE_NAMES
from avel.report.plan import REPORT_SPLIT
from avel.report.results import MODEL_LABELS, SWEEP_COLUMNS, ReportResults, sweep_points
from viz import confusion_matrix_figure, per_class_accuracy_figure, save_figure, tsne_embedding, tsne_figure
from viz.export import new_figure

log = logging.getLogger(__name__)

FIGURE_FILES = {  # key -> file name under --figures, named after the paper's figure it mirrors
    "confusion_baseline": "fig4a_confusion_baseline.png",
    "confusion_coatt": "fig4b_confusion_coatt.png",
    "per_class": "fig4c_per_class_accuracy.png",
    "sweep": "fig5_lambda_sweep.png",
    "tsne": "fig7_tsne.png",
}
LAMBDA_NAMES = {"cml": "lambda_c", "sel": "lambda_s", "wsel": "lambda_w"}
TSNE_TITLES = {  # FEATURE_NAMES -> panel title (Fig. 7 layout: audio row, visual row)
    "raw_audio": "Audio raw",
    "cspa_audio": "Audio CSPA",
    "csea_audio": "Audio CSEA",
    "raw_visual": "Visual raw",
    "cspa_visual": "Visual CSPA",
    "csea_visual": "Visual CSEA",
}
SWEEP_PANEL_IN = 4.0


def sweep_figure(points: dict[str, list[tuple[float, dict[str, float]]]]) -> Figure:
    """One panel per task: test accuracy (%) against the task's lambda; the paper's lambda dashed."""
    tasks = [task for task, values in points.items() if values]
    if not tasks:
        raise ValueError("points: expected sweep results for at least one task, got none")
    fig = new_figure(SWEEP_PANEL_IN * len(tasks), SWEEP_PANEL_IN * 0.8)
    axes = fig.subplots(1, len(tasks), squeeze=False).ravel()
    for ax, task in zip(axes, tasks, strict=True):
        lambdas = [value for value, _ in points[task]]
        for column in SWEEP_COLUMNS[task]:
            ax.plot(
                lambdas,
                [100 * scores[column] for _, scores in points[task]],
                marker="o",
                label=column.upper(),
            )
        ax.axvline(ModelConfig(task=task).cspa_weight, color="grey", linestyle="--", label="paper's lambda")
        ax.set_xlabel(f"{LAMBDA_NAMES[task]} (CSPA stream's loss weight)")
        ax.set_ylabel(f"{REPORT_SPLIT} accuracy (%)")
        ax.set_title(f"{task.upper()}: {LAMBDA_NAMES[task]}")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    return fig


def frequent_event_classes(labels: np.ndarray, num_classes: int, count: int) -> np.ndarray:
    """Indices of the `count` most frequent event classes in `labels` (background, the last, excluded)."""
    frequency = np.bincount(labels.ravel(), minlength=num_classes)
    frequency[num_classes - 1] = 0  # AVE's background is the last class
    ranked = np.argsort(-frequency, kind="stable")[:count]
    return ranked[frequency[ranked] > 0]


def tsne_panels(
    summary: ModelSummary, labels: np.ndarray, num_classes: int, count: int, max_points: int, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fig. 7 panels: t-SNE of each feature the model has, on segments of its frequent event classes."""
    flat = labels.ravel()  # (N * T,) in the row order of summary.features
    keep = np.isin(flat, frequent_event_classes(labels, num_classes, count))
    panels = {}
    for name in FEATURE_NAMES:
        if name in summary.features:
            coords, kept = tsne_embedding(summary.features[name][keep], seed, max_points, labels=flat[keep])
            panels[TSNE_TITLES[name]] = (coords, flat[keep][kept])
    return panels


def _fig4_and_7(dataset: DatasetSummary, results: ReportResults) -> dict[str, Figure]:
    classes, seed = dataset.classes, results.config.seeds[0]
    where = f"SEL, {dataset.split} split, seed {seed}"
    figures = {
        f"confusion_{model}": confusion_matrix_figure(
            summary.confusion, classes, title=f"{MODEL_LABELS[model]}, {where}"
        )
        for model, summary in dataset.models.items()
    }
    counts = next(iter(dataset.models.values())).confusion.sum(axis=1)  # (C,) true segments per class
    figures["per_class"] = per_class_accuracy_figure(
        {MODEL_LABELS[model]: summary.per_class for model, summary in dataset.models.items()},
        classes,
        counts=counts,
        title=f"Per-class accuracy, {where}",
    )
    config = results.config
    panels = tsne_panels(
        dataset.models["coatt"], dataset.labels, len(classes), config.tsne_classes, config.tsne_max_points
    )
    figures["tsne"] = tsne_figure(panels, classes)
    return figures


def write_figures(results: ReportResults, figures_dir: str | Path) -> dict[str, Path]:
    """Draw and save every figure the collected sections allow; returns key -> written path."""
    figures: dict[str, Figure] = {}
    if results.dataset is not None:
        figures.update(_fig4_and_7(results.dataset, results))
    if "sweeps" in results.plan.sections:
        figures["sweep"] = sweep_figure(sweep_points(results))
    written = {
        key: save_figure(figure, Path(figures_dir) / FIGURE_FILES[key]) for key, figure in figures.items()
    }
    log.info("wrote %d figures under %s", len(written), figures_dir)
    return written
