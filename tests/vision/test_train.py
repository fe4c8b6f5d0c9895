"""A tiny training run end to end: data, loop, checkpoint, resume, BatchNorm, weights, card."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import vision.train
from vision.errors import DatasetError, TrainingError
from vision.models import load_weights
from vision.train import TrainConfig, check_inputs, main, recompute_batchnorm


@pytest.fixture
def no_generation(monkeypatch) -> None:
    """Make the (slow) tile generator fail the test if it is reached."""

    def generate(*args, **kwargs):
        raise AssertionError("tiles generated before the inputs were checked")

    monkeypatch.setattr(vision.train, "synthetic_tiles", generate)


@pytest.mark.slow
def test_tiny_run_writes_weights_and_card_and_resumes(tmp_path) -> None:
    real = tmp_path / "real"
    for label, colour in (("background", (40, 120, 40)), ("straw_burning", (200, 90, 20))):
        (real / label).mkdir(parents=True)
        for k in range(4):
            Image.new("RGB", (60, 60), colour).save(real / label / f"src{label[0]}__{k}.png")
    config = TrainConfig(
        out=tmp_path / "w" / "model.pt",
        real=real,
        synthetic_per_class=2,
        eval_synthetic_per_class=1,
        epochs=1,
        batch_size=4,
        workdir=tmp_path / "work",
        pretrained=False,
        loso=("srcs",),
        loso_epochs=1,
    )
    logs: list[str] = []
    result = main(config, log=logs.append)
    _, record = load_weights(result.weights)
    assert set(record.metrics) >= {"generated_unseen", "real_heldout", "leave_one_source_out"}
    assert record.metrics["leave_one_source_out"]["srcs"]["class"] == "straw_burning"
    card = (tmp_path / "w" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Leave-one-source-out" in card and "generated" in card
    logs.clear()
    main(config, log=logs.append)  # the checkpoint of the finished epoch is resumed, not redone
    assert any("resumed" in line for line in logs)
    with pytest.raises(TrainingError, match="other options"):
        main(
            TrainConfig(
                **{
                    **{k: getattr(config, k) for k in config.__dataclass_fields__},
                    "lr": 0.1,
                    "loso": (),
                }
            ),
            log=logs.append,
        )


def test_batchnorm_statistics_are_recomputed_from_data() -> None:
    from vision.models import build_model

    model = build_model()
    norm = model.features[-1][1]
    data = [(torch.full((4, 3, 64, 64), 3.0), torch.zeros(4, dtype=torch.long))]
    recompute_batchnorm(model, data, frozen_blocks=0)
    assert not model.training
    assert norm.momentum == 0.1  # restored after the cumulative pass
    assert not torch.allclose(norm.running_mean, torch.zeros_like(norm.running_mean))


def test_too_little_data_for_one_batch_is_a_clear_error(tmp_path, no_generation) -> None:
    config = TrainConfig(
        out=tmp_path / "model.pt",
        synthetic_per_class=2,
        eval_synthetic_per_class=1,
        epochs=1,
        batch_size=48,
        workdir=tmp_path / "work",
        pretrained=False,
    )
    with pytest.raises(TrainingError, match="do not fill one batch of 48"):
        main(config, log=lambda _: None)
    assert not config.out.exists()


def _review_export(root, *, crop: bytes | None = None):
    """An export as `gridpatrol db export-reviews` writes it (every column it writes)."""
    from groundstation.services import EXPORT_FIELDS

    (root / "background").mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(root / "background" / "7.jpg")
    if crop is not None:
        (root / "background" / "7.jpg").write_bytes(crop)
    values = {"finding_id": "7", "path": "background/7.jpg", "label": "background"}
    header = ",".join(EXPORT_FIELDS)
    row = ",".join(values.get(name, "") for name in EXPORT_FIELDS)
    (root / "labels.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    return root


def test_check_inputs_reads_an_export_of_the_ground_station(tmp_path) -> None:
    export = _review_export(tmp_path / "export")
    config = TrainConfig(reviews=export, out=tmp_path / "w.pt", workdir=tmp_path / "work")
    sources = check_inputs(config)
    assert [(i.path.name, i.label, i.source) for i in sources.reviewed] == [
        ("7.jpg", "background", "reviews")
    ]


def test_an_unreadable_crop_stops_the_run_before_generation(tmp_path, no_generation) -> None:
    export = _review_export(tmp_path / "export", crop=b"not a jpeg")
    config = TrainConfig(reviews=export, out=tmp_path / "w.pt", workdir=tmp_path / "work")
    with pytest.raises(DatasetError, match=r"7\.jpg is not readable"):
        main(config, log=lambda _: None)
    assert not config.out.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("epochs", 0, "epochs must be at least 1, got 0"),
        ("lr", 0.0, "lr must be more than 0, got 0.0"),
        ("lr", float("nan"), "lr must be more than 0, got nan"),
        ("holdout_fraction", 1.0, "holdout_fraction must be below 1, got 1.0"),
        ("loso_epochs", 0, "loso_epochs must be at least 1, got 0"),
    ],
)
def test_out_of_range_options_are_refused_before_generation(
    tmp_path, no_generation, option, value, message
) -> None:
    config = TrainConfig(out=tmp_path / "w.pt", workdir=tmp_path / "work", **{option: value})
    with pytest.raises(TrainingError, match=f"^{message}$"):
        main(config, log=lambda _: None)


def test_a_work_folder_that_is_a_file_is_refused(tmp_path, no_generation) -> None:
    (tmp_path / "work").write_text("", encoding="utf-8")
    config = TrainConfig(out=tmp_path / "w.pt", workdir=tmp_path / "work")
    with pytest.raises(TrainingError, match=r"work folder .*work is a file, not a folder"):
        main(config, log=lambda _: None)
