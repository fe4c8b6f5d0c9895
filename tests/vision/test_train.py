"""A tiny training run end to end: data, loop, checkpoint, resume, BatchNorm, weights, card."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vision.errors import TrainingError
from vision.models import load_weights
from vision.train import TrainConfig, main, recompute_batchnorm


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


def test_too_little_data_for_one_batch_is_a_clear_error(tmp_path) -> None:
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
