"""`gridpatrol evaluate`: score the classifier on a folder of per-class sub-folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

from groundstation.cli._files import check_output, write_all

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
    help="Confusion-matrix picture, a .png file (default: confusion.png in the current folder).",
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
    """Per-class precision/recall/F1, macro-F1 and the confusion matrix over DIRECTORY/<class>/
    (images in sub-folders of a class count for it)."""
    from rich.progress import Progress

    from vision.datasets import image_folder
    from vision.evaluate import confusion_png, evaluate_folder, format_metrics
    from vision.infer import Classifier, pillow_limit_lifted

    png = png or Path("confusion.png")
    check_output(png, option="--png", suffixes=(".png",))
    if json_out is not None:
        check_output(json_out, option="--json")
    total = len(image_folder(directory))
    classifier = Classifier.load(weights, threads=threads)
    # images are opened only by the classifier, which refuses oversized ones from their headers
    with pillow_limit_lifted(), Progress(transient=True) as bars:
        task = bars.add_task("evaluating", total=total)
        result = evaluate_folder(
            classifier, directory, threshold=threshold, progress=lambda n: bars.advance(task, n)
        )
    click.echo(format_metrics(result.metrics))
    for path, error in result.errors:
        click.echo(f"skipped {path}: {error}", err=True)
    title = f"{directory} (macro-F1 {result.metrics.macro_f1:.3f})"
    contents = {png: confusion_png(result.metrics, title=title)}
    if json_out is not None:
        contents[json_out] = json.dumps(result.metrics.to_dict(), indent=1).encode("utf-8")
    write_all(contents)
    click.echo(f"confusion matrix -> {png}")
