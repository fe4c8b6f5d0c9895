"""Fixtures for the vision tests: shared data paths and a transparent colour-rule classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vision.infer import Classifier
from vision.models import WeightsRecord

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


class ColourRule(nn.Module):
    """Scores a tile by its share of pure-red (class 0) and pure-blue (class 2) pixels.

    A model whose answer is known exactly, so tiling, merging and georeferencing can be checked
    against planted boxes without depending on trained weights.
    """

    def __init__(self, record: WeightsRecord) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(record.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(record.std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = x * self.std + self.mean
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        red = ((r > 0.8) & (g < 0.2) & (b < 0.2)).float().mean(dim=(1, 2))
        blue = ((b > 0.8) & (r < 0.2) & (g < 0.2)).float().mean(dim=(1, 2))
        zero = torch.zeros_like(red)
        logits = torch.stack([red * 400, zero, blue * 400, torch.full_like(red, 2.0)], dim=1)
        return logits


class ColourCells(nn.Module):
    """ColourRule's scores built the way MobileNetV2 is: `features` (red and blue shares of
    each 32-px cell) → global average pool → a linear `classifier`, so the same rule can also
    score a whole image's tiles in one pass (:func:`vision.models.tile_score_map`)."""

    def __init__(self, record: WeightsRecord) -> None:
        super().__init__()
        self.rule = ColourRule(record)
        self.features = _ColourShares(self.rule)
        self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(2, 4))
        with torch.no_grad():
            self.classifier[1].weight.copy_(torch.tensor([[400.0, 0], [0, 0], [0, 400.0], [0, 0]]))
            self.classifier[1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(pooled)


class _ColourShares(nn.Module):
    def __init__(self, rule: ColourRule) -> None:
        super().__init__()
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = x * self.rule.std + self.rule.mean
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        red = (r > 0.8) & (g < 0.2) & (b < 0.2)
        blue = (b > 0.8) & (r < 0.2) & (g < 0.2)
        shares = torch.stack([red, blue], dim=1).float()
        return nn.functional.avg_pool2d(shares, 32, ceil_mode=True)


@pytest.fixture
def colour_classifier() -> Classifier:
    record = WeightsRecord(name="colour-rule")
    return Classifier(ColourRule(record), record, threshold=0.5)


def spy_decoding(monkeypatch) -> list[str]:
    """Names of the images whose pixels the classifier decodes from now on (a spy on
    ``infer._decode``)."""
    from vision import infer

    names: list[str] = []
    real = infer._decode

    def spy(path, size):
        names.append(Path(path).name)
        return real(path, size)

    monkeypatch.setattr(infer, "_decode", spy)
    return names


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    """See :func:`spy_decoding`."""
    return spy_decoding(monkeypatch)
