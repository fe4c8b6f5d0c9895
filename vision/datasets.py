"""Training and evaluation data: image folders, review exports and generated tiles, as tiles.

Every source ends as RGB uint8 tiles of the model's size plus a class index, so training, evaluation
and inference share one preprocessing: a whole real image (already a scene-sized crop) is resized to
the tile; generated tiles are rendered at the working GSD directly.

Review export format (written by the ground station, read by ``gridpatrol train --reviews``)::

    EXPORT/
      labels.csv            UTF-8 CSV with a header row
      <label>/<file>.jpg    one crop per reviewed finding, in the folder of its final label

``labels.csv`` columns: ``path`` (crop path relative to EXPORT, required), ``label`` (the reviewed,
final class — ``illegal_construction``, ``straw_burning``, ``illegal_fishing`` or ``background``;
required; a rejected false alarm is ``background``), and optionally ``status`` (``confirmed`` |
``rejected`` | ``corrected``), ``original_label`` (what the model said), ``finding_id``, ``image``
(the source photo) and ``score``. The CSV is authoritative and required: plain per-class folders
are real images (:func:`image_folder`), not a review export.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vision.errors import DatasetError
from vision.labels import CLASSES, class_index

__all__ = [
    "IMAGE_SUFFIXES",
    "LabelledImage",
    "image_folder",
    "review_export",
    "split_holdout",
    "load_tile",
    "synthetic_tiles",
    "TileDataset",
    "to_tensor",
    "tiles_from_images",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True, slots=True)
class LabelledImage:
    """A real image with its class and the source it came from (for leave-one-source-out)."""

    path: Path
    label: str
    source: str


def _source_of(path: Path, default: str) -> str:
    stem = path.name
    return stem.split("__", 1)[0] if "__" in stem else default


def image_folder(root: str | Path) -> list[LabelledImage]:
    """Images under `root/<class>/`, sub-folders included (hidden files and folders skipped); a
    file named ``SOURCE__name`` belongs to source SOURCE."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    unknown = [p.name for p in root.iterdir() if p.is_dir() and p.name not in CLASSES]
    if unknown:
        raise DatasetError(f"{root}: sub-folders {unknown} are not classes ({', '.join(CLASSES)})")
    items = [
        LabelledImage(path, label, _source_of(path, root.name))
        for label in CLASSES
        if (root / label).is_dir()
        for path in sorted((root / label).rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    if not items:
        raise DatasetError(
            f"{root} holds no images in per-class sub-folders ({', '.join(CLASSES)})"
        )
    return items


def review_export(root: str | Path) -> list[LabelledImage]:
    """Reviewed crops from a ground-station export (format in this module's docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"review export {root} is not a folder")
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise DatasetError(
            f"review export {root} has no labels.csv; "
            "write the export with `gridpatrol db export-reviews DIR`"
        )
    try:
        with labels_csv.open(encoding="utf-8", newline="") as handle:
            return _review_rows(root, labels_csv, csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{labels_csv} is not a UTF-8 CSV file: {exc}") from None


def _review_rows(root: Path, labels_csv: Path, reader: csv.DictReader) -> list[LabelledImage]:
    if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
        raise DatasetError(f"{labels_csv} needs the columns path,label; has {reader.fieldnames}")
    items = []
    for row in reader:
        line = reader.line_num
        label = (row["label"] or "").strip()
        if label not in CLASSES:
            raise DatasetError(
                f"{labels_csv} line {line}: label {label!r} is not one of {', '.join(CLASSES)}"
            )
        relative = (row["path"] or "").strip()
        path = root / relative
        if not relative or not path.is_file():
            raise DatasetError(f"{labels_csv} line {line}: crop {path} does not exist")
        items.append(LabelledImage(path, label, "reviews"))
    return items


def split_holdout(
    items: Sequence[LabelledImage], *, fraction: float, seed: int
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """A stratified (per class and source) random split into (train, held out)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[LabelledImage]] = {}
    for item in items:
        groups.setdefault((item.label, item.source), []).append(item)
    train, held = [], []
    for key in sorted(groups):
        group = groups[key]
        order = rng.permutation(len(group))
        n_held = round(len(group) * fraction)
        held += [group[i] for i in order[:n_held]]
        train += [group[i] for i in order[n_held:]]
    return train, held


def load_tile(path: str | Path, tile_px: int) -> np.ndarray:
    """A whole image resized to `tile_px`² RGB uint8 (raises DatasetError if unreadable)."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (tile_px * 2, tile_px * 2))
            return np.asarray(image.convert("RGB").resize((tile_px, tile_px), Image.BILINEAR))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"image {path} is not readable: {exc}") from None


def synthetic_tiles(
    n_per_class: int,
    *,
    seed: int,
    tile_px: int,
    gsd_m: float,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_class` generated tiles of every class: (N×H×W×3 uint8, N class indices).

    Tile k of class c is drawn from ``default_rng([seed, c, k])``, so any subset is reproducible.
    With `cache_dir` the result is kept in an .npz file named after the arguments and the
    generator's version (so tiles cached before a generator change are not reused).
    """
    from vision.synth.scenes import GENERATOR_VERSION, make_tile

    cache = None
    if cache_dir is not None:
        name = f"synth-v{GENERATOR_VERSION}-s{seed}-n{n_per_class}-t{tile_px}-g{gsd_m:g}.npz"
        cache = Path(cache_dir) / name
        if cache.is_file():
            with np.load(cache) as data:
                return data["images"], data["labels"]
    images = np.empty((n_per_class * len(CLASSES), tile_px, tile_px, 3), dtype=np.uint8)
    labels = np.empty(n_per_class * len(CLASSES), dtype=np.int64)
    i = 0
    for c, label in enumerate(CLASSES):
        for k in range(n_per_class):
            rng = np.random.default_rng([seed, c, k])
            images[i] = make_tile(rng, label, tile_px=tile_px, gsd_m=gsd_m)
            labels[i] = c
            i += 1
            if progress is not None:
                progress(1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images, labels=labels)
    return images, labels


def to_tensor(batch: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """N×H×W×3 uint8 -> normalised float N×3×H×W."""
    x = torch.from_numpy(np.array(batch, dtype=np.uint8)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


class TileDataset(torch.utils.data.Dataset):
    """Tiles in memory with labels; with `augment`, random flips, quarter turns and colour jitter.

    Nadir imagery has no "up", so the dihedral group is a free, exact augmentation.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if len(images) != len(labels):
            raise DatasetError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.mean, self.std, self.augment = tuple(mean), tuple(std), augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        tile = self.images[index]
        if self.augment:
            tile = np.rot90(tile, int(self.rng.integers(4)))
            if self.rng.random() < 0.5:
                tile = tile[:, ::-1]
            gain = self.rng.uniform(0.85, 1.15, 3)
            tile = np.clip(tile.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return to_tensor(tile[None], self.mean, self.std)[0], int(self.labels[index])


def tiles_from_images(
    items: Sequence[LabelledImage], tile_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Load labelled real images as tiles (N×H×W×3 uint8, N class indices)."""
    if not items:
        return np.empty((0, tile_px, tile_px, 3), np.uint8), np.empty(0, np.int64)
    images = np.stack([load_tile(item.path, tile_px) for item in items])
    labels = np.array([class_index(item.label) for item in items], dtype=np.int64)
    return images, labels
