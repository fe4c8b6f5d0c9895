"""`gridpatrol train`: train the imagery classifier and write its weights and model card."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["train_command"]


def _sources(value: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (value or "").split(",") if s.strip())


@click.command("train")
@click.option(
    "--real",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of real images in per-class sub-folders (default: none).",
)
@click.option(
    "--reviews",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A review export (crops + labels.csv) written by `gridpatrol db export-reviews`.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Weights file to write (default: the weights shipped in the package).",
)
@click.option("--epochs", type=click.IntRange(1), default=6, show_default=True)
@click.option(
    "--synthetic-per-class",
    type=click.IntRange(1),
    default=800,
    show_default=True,
    help="Generated training tiles per class.",
)
@click.option("--batch-size", type=click.IntRange(2), default=48, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-3, show_default=True)
@click.option("--leave-out", default="", help="Comma-separated real sources never to train on.")
@click.option(
    "--leave-one-source-out",
    "loso",
    default="",
    help="Comma-separated sources: one extra run without each, reporting its recall.",
)
@click.option(
    "--loso-epochs",
    type=click.IntRange(1),
    default=None,
    help="Epochs of each leave-one-source-out run (default: as --epochs, the same recipe).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="CPU threads for torch (keep 1 on a shared machine).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoints and the generated-tile cache (default: a temp folder).",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue from the checkpoint in --workdir when its options match.",
)
def train_command(
    real: Path | None,
    reviews: Path | None,
    out: Path | None,
    epochs: int,
    synthetic_per_class: int,
    batch_size: int,
    lr: float,
    leave_out: str,
    loso: str,
    loso_epochs: int | None,
    seed: int,
    threads: int,
    workdir: Path | None,
    resume: bool,
) -> None:
    """Train the classifier on generated scenes, real images and reviewed findings."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from vision.train import TrainConfig, check_inputs, main

    paths = {"out": out, "workdir": workdir}
    config = TrainConfig(
        **{name: path for name, path in paths.items() if path is not None},
        real=real,
        reviews=reviews,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        synthetic_per_class=synthetic_per_class,
        leave_out=_sources(leave_out),
        loso=_sources(loso),
        loso_epochs=loso_epochs,
        seed=seed,
        threads=threads,
        resume=resume,
    )
    check_inputs(config)  # every input checked before the progress bars and the slow generation
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bars:
        tasks: dict[str, int] = {}

        def progress(description: str, advance: int, total: int) -> None:
            if description not in tasks:
                tasks[description] = bars.add_task(description, total=total)
            bars.advance(tasks[description], advance)

        result = main(config, progress=progress, log=bars.console.print)
    click.echo(f"wrote {result.weights} ({result.seconds / 60:.1f} min)")
