"""A deterministic stand-in for vision.infer.Classifier used by the ground-station tests.

It reads the photo's mean colour: reddish → straw_burning, bluish → illegal_fishing, grey →
illegal_construction, greenish → background (no finding). The score is the dominant channel's share;
the centre comes from a ``<photo>.json`` sidecar ({"lon": .., "lat": ..}) when present.
``FAKE_CLASSIFIER_DELAY_S`` slows each photo down (for killed-worker tests).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["FakeFinding", "FakeResult", "FakeClassifier", "load", "label_for"]


@dataclass(frozen=True)
class FakeFinding:
    label: str
    score: float
    box_px: tuple[float, float, float, float]
    centre: tuple[float, float] | None = None
    polygon: object | None = None
    grid_id: str | None = None


@dataclass(frozen=True)
class FakeResult:
    image: str
    label: str
    score: float
    findings: list[FakeFinding] = field(default_factory=list)
    error: str | None = None


def label_for(rgb: np.ndarray) -> tuple[str, float]:
    r, g, b = (float(v) for v in rgb)
    total = r + g + b + 1e-9
    if max(r, g, b) - min(r, g, b) < 20:
        return "illegal_construction", 0.55 + (r % 40) / 100
    if r >= g and r >= b:
        return "straw_burning", r / total
    if b >= g:
        return "illegal_fishing", b / total
    return "background", g / total


class FakeClassifier:
    def __init__(self) -> None:
        self.delay = float(os.environ.get("FAKE_CLASSIFIER_DELAY_S", "0"))
        self.calls: list[str] = []

    def classify_image(self, path, *, camera=None, gsd_m=None, threshold=None, grids=None):
        path = Path(path)
        self.calls.append(path.name)
        if self.delay:
            time.sleep(self.delay)
        if path.name.startswith("broken"):
            raise OSError(f"{path.name}: truncated JPEG")
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        label, score = label_for(pixels.reshape(-1, 3).mean(axis=0))
        sidecar = path.with_suffix(path.suffix + ".json")
        centre = None
        if sidecar.exists():
            data = json.loads(sidecar.read_text())
            centre = (data["lon"], data["lat"])
        h, w = pixels.shape[:2]
        finding = FakeFinding(
            label, round(score, 4), (w * 0.25, h * 0.25, w * 0.75, h * 0.75), centre
        )
        findings = [] if label == "background" else [finding]
        return FakeResult(str(path), label, score, findings)


def load() -> FakeClassifier:
    return FakeClassifier()
