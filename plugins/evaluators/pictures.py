"""Pictures of an evaluation (PNG, matplotlib's Agg backend): the confusion matrix and a prediction grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_confusion", "plot_predictions", "colorize"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int,
             ignore_colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """``H x W`` class ids -> ``H x W x 3`` uint8 colours; the ignore label (or anything unknown) in white."""
    table = np.array(list(palette), dtype=np.uint8).reshape(-1, 3)
    out = np.empty((*label.shape, 3), dtype=np.uint8)
    out[:] = ignore_colour
    known = (label >= 0) & (label < len(table)) & (label != ignore_index)
    out[known] = table[label[known]]
    return out


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: str | Path, *,
                   title: str = "confusion matrix") -> Path:
    """The row-normalised confusion matrix (each true class sums to 1), with the share in each cell."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(class_names)
    side = max(5.0, 0.45 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if n <= 24:
        for i in range(n):
            for j in range(n):
                if share[i, j] >= 0.005:
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's pixels")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_predictions(images: Sequence[np.ndarray], truths: Sequence[np.ndarray], preds: Sequence[np.ndarray], *,
                     class_names: Sequence[str], palette: Sequence[Sequence[int]], ignore_index: int,
                     path: str | Path, title: str = "predictions") -> Path:
    """One row per sample: the image, the ground truth and the prediction in class colours, and a legend."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    rows = len(images)
    height, width = images[0].shape[:2]
    panel_w = 4.0
    panel_h = panel_w * height / width
    legend_h = 0.35 + 0.2 * ((len(class_names) + 1 + 6) // 7)
    fig, axes = plt.subplots(rows, 3, figsize=(3 * panel_w, rows * panel_h + legend_h + 0.4), squeeze=False)
    for r, (image, truth, pred) in enumerate(zip(images, truths, preds)):
        for c, (picture, name) in enumerate(((image, "image"), (colorize(truth, palette, ignore_index), "ground truth"),
                                             (colorize(pred, palette, ignore_index), "prediction"))):
            ax = axes[r, c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=10)
    handles = [Patch(facecolor=np.array(colour) / 255.0, edgecolor="0.4", label=name)
               for name, colour in zip(class_names, palette)]
    handles.append(Patch(facecolor="white", edgecolor="0.4", label="ignored"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, legend_h / (rows * panel_h + legend_h + 0.4), 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
