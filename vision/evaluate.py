"""Classification metrics, the confusion matrix and its picture (drawn with PIL).

`classification_metrics` is pure; `evaluate_folder` runs a classifier over a folder of per-class
sub-folders through the same pipeline as `gridpatrol classify`; `confusion_png` draws the matrix
without matplotlib and `save_confusion_png` writes it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vision.datasets import image_folder
from vision.errors import ImageReadError
from vision.labels import CLASSES

if TYPE_CHECKING:
    from vision.infer import Classifier

__all__ = [
    "Metrics",
    "classification_metrics",
    "format_metrics",
    "confusion_png",
    "save_confusion_png",
    "FolderEvaluation",
    "evaluate_folder",
]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Per-class precision/recall/F1/support, macro-F1, accuracy and the confusion matrix.

    ``confusion[i][j]`` counts images of true class i predicted as class j. A score whose
    denominator is zero is undefined, None (not 0): precision of a class never predicted, recall
    of a class with no support, F1 of a class neither predicted nor present.
    """

    classes: tuple[str, ...]
    precision: dict[str, float | None]
    recall: dict[str, float | None]
    f1: dict[str, float | None]
    support: dict[str, int]
    macro_f1: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict:
        return {
            "classes": list(self.classes),
            "per_class": {
                c: {
                    "precision": _rounded(self.precision[c]),
                    "recall": _rounded(self.recall[c]),
                    "f1": _rounded(self.f1[c]),
                    "support": self.support[c],
                }
                for c in self.classes
            },
            "macro_f1": round(self.macro_f1, 4),
            "macro_f1_classes": [c for c in self.classes if self.f1[c] is not None],
            "accuracy": round(self.accuracy, 4),
            "confusion": [list(row) for row in self.confusion],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _score(value: float | None, width: int) -> str:
    """A score for the table, right-aligned; an undefined one as "n/a"."""
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.3f}"


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str] = CLASSES
) -> Metrics:
    """Metrics over class indices. Macro-F1 averages the classes that occur in `y_true` or
    `y_pred` (scikit-learn's macro average over the labels seen: a class only predicted, with
    no ground truth, counts with F1 0, so false alarms of it lower the average); a score with a
    zero denominator is None (see :class:`Metrics`)."""
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(
        confusion, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1
    )
    tp = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    actual = confusion.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    # F1 = 2TP / (2TP + FP + FN): defined whenever the class is predicted or present
    f1_denom = predicted + actual
    f1 = np.divide(2 * tp, f1_denom, out=np.zeros(k), where=f1_denom > 0)
    present = actual > 0
    total = confusion.sum()

    def defined(values: np.ndarray, where: np.ndarray) -> dict[str, float | None]:
        return {c: float(values[i]) if where[i] else None for i, c in enumerate(classes)}

    return Metrics(
        classes=tuple(classes),
        precision=defined(precision, predicted > 0),
        recall=defined(recall, present),
        f1=defined(f1, f1_denom > 0),
        support={c: int(actual[i]) for i, c in enumerate(classes)},
        macro_f1=float(f1[f1_denom > 0].mean()) if total else 0.0,
        accuracy=float(tp.sum() / total) if total else 0.0,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
    )


def format_metrics(metrics: Metrics) -> str:
    """A plain-text table: per-class scores ("n/a" where undefined), macro-F1 and the confusion
    matrix."""
    width = max(len(c) for c in metrics.classes)
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for c in metrics.classes:
        lines.append(
            f"{c:<{width}}  {_score(metrics.precision[c], 9)}  {_score(metrics.recall[c], 6)}  "
            f"{_score(metrics.f1[c], 5)}  {metrics.support[c]:7d}"
        )
    averaged = [c for c in metrics.classes if metrics.f1[c] is not None]
    lines.append(
        f"macro-F1 {metrics.macro_f1:.3f} (mean over {', '.join(averaged) or 'no class'})   "
        f"accuracy {metrics.accuracy:.3f}"
    )
    unseen = [c for c in averaged if metrics.support[c] == 0]
    if unseen:
        lines.append(
            f"no ground truth for {', '.join(unseen)}: only false alarms, F1 0 in the average"
        )
    lines.append("")
    lines.append("confusion (rows = true, columns = predicted)")
    short = [c[:12] for c in metrics.classes]
    lines.append(" " * (width + 2) + " ".join(f"{s:>12}" for s in short))
    for c, row in zip(metrics.classes, metrics.confusion, strict=True):
        lines.append(f"{c:<{width}}  " + " ".join(f"{v:>12d}" for v in row))
    return "\n".join(lines)


def confusion_png(metrics: Metrics, *, title: str = "") -> bytes:
    """The confusion matrix (row-normalised shading, counts written in) as PNG bytes."""
    k = len(metrics.classes)
    cell, left, top = 90, 190, 60 + (20 if title else 0)
    width, height = left + k * cell + 20, top + k * cell + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    if title:
        draw.text((10, 8), title, fill="black", font=font)
    draw.text((left, top - 40), "predicted ->", fill="black", font=font)
    draw.text((10, top - 20), "true (rows)", fill="black", font=font)
    matrix = np.asarray(metrics.confusion, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    for j, c in enumerate(metrics.classes):
        draw.text((left + j * cell + 4, top - 18), c[:14], fill="black", font=font)
    for i, c in enumerate(metrics.classes):
        draw.text((10, top + i * cell + cell // 2 - 6), c, fill="black", font=font)
        for j in range(k):
            level = int(255 - 200 * share[i, j])
            colour = (level, level, 255) if i == j else (255, level, level)
            x0, y0 = left + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=colour, outline="grey")
            text = f"{int(matrix[i, j])}"
            draw.text(
                (x0 + cell // 2 - 4 * len(text), y0 + cell // 2 - 6),
                text,
                fill="black" if share[i, j] < 0.6 else "white",
                font=font,
            )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_confusion_png(metrics: Metrics, path: str | Path, *, title: str = "") -> Path:
    """Draw the confusion matrix (see :func:`confusion_png`) into a PNG file."""
    path = Path(path)
    data = confusion_png(metrics, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@dataclass(frozen=True, slots=True)
class FolderEvaluation:
    """Metrics over a folder plus the images not classified (unreadable, too small, …) and
    why."""

    metrics: Metrics
    errors: tuple[tuple[str, str], ...]


def evaluate_folder(
    classifier: Classifier,
    root: str | Path,
    *,
    threshold: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> FolderEvaluation:
    """Classify every image of `root/<class>/` as `gridpatrol classify` would and score it.

    Unreadable images are left out and listed in `errors`; :class:`ImageReadError` when none is
    readable (metrics over no images would read as a model that gets everything wrong).
    """
    items = image_folder(root)
    y_true, y_pred, errors = [], [], []
    classes = classifier.record.categories
    for item in items:
        result = classifier.classify_image(item.path, threshold=threshold)
        if progress is not None:
            progress(1)
        if result.error is not None:
            errors.append((str(item.path), result.error))
            continue
        y_true.append(classes.index(item.label))
        y_pred.append(classes.index(result.label))
    if not y_true:
        _, error = errors[0]
        raise ImageReadError(
            f"none of the {len(errors)} images under {root} could be classified, nothing to "
            f"evaluate (first: {error})"
        )
    return FolderEvaluation(classification_metrics(y_true, y_pred, classes), tuple(errors))
