"""`gridpatrol evaluate`: score the classifier on a folder of per-class sub-folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Weights file (default: the weights shipped with GridPatrol).",
)
@click.option(
    "--threads", type=click.IntRange(1), default=1, show_default=True, help="CPU threads for torch."
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Minimum score of a finding (default 0.5).",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Confusion-matrix picture (default: confusion.png in the current folder).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the metrics as JSON.",
)
def evaluate_command(
    directory: Path,
    weights: Path | None,
    threshold: float | None,
    png: Path | None,
    json_out: Path | None,
    threads: int,
) -> None:
    """Per-class precision/recall/F1, macro-F1 and the confusion matrix over DIRECTORY/<class>/."""
    from rich.progress import Progress

    from vision.datasets import image_folder
    from vision.evaluate import evaluate_folder, format_metrics, save_confusion_png
    from vision.infer import Classifier

    classifier = Classifier.load(weights, threads=threads)
    total = len(image_folder(directory))
    with Progress(transient=True) as bars:
        task = bars.add_task("evaluating", total=total)
        result = evaluate_folder(
            classifier, directory, threshold=threshold, progress=lambda n: bars.advance(task, n)
        )
    click.echo(format_metrics(result.metrics))
    for path, error in result.errors:
        click.echo(f"skipped {path}: {error}", err=True)
    picture = save_confusion_png(
        result.metrics,
        png or Path("confusion.png"),
        title=f"{directory} (macro-F1 {result.metrics.macro_f1:.3f})",
    )
    click.echo(f"confusion matrix -> {picture}")
    if json_out is not None:
        json_out.write_text(json.dumps(result.metrics.to_dict(), indent=1), encoding="utf-8")
