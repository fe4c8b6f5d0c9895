"""Datasets (folders, review exports, splits), metrics, the confusion PNG and weights files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vision.datasets import image_folder, load_tile, review_export, split_holdout
from vision.errors import DatasetError, WeightsError
from vision.evaluate import classification_metrics, format_metrics, save_confusion_png
from vision.labels import CLASSES
from vision.models import WeightsRecord, build_model, load_weights, save_weights


def _image(path, colour=(10, 200, 30), size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_reads_classes_and_sources(tmp_path) -> None:
    _image(tmp_path / "straw_burning" / "bugwood__1.jpg")
    _image(tmp_path / "background" / "aid_pond__2.jpg")
    _image(tmp_path / "background" / "plain.png")
    items = image_folder(tmp_path)
    assert [(i.label, i.source) for i in items] == [
        ("straw_burning", "bugwood"),
        ("background", "aid_pond"),
        ("background", tmp_path.name),
    ]
    (tmp_path / "cats").mkdir()
    with pytest.raises(DatasetError, match="cats"):
        image_folder(tmp_path)


def test_image_folder_takes_images_in_sub_folders_of_a_class(tmp_path) -> None:
    _image(tmp_path / "illegal_fishing" / "lake_a" / "aid_port__1.jpg")
    _image(tmp_path / "illegal_fishing" / "lake_b" / "deep" / "2.png")
    _image(tmp_path / "illegal_fishing" / ".thumbs" / "3.jpg")  # hidden: a viewer's cache
    _image(tmp_path / "illegal_fishing" / "4.jpg")
    items = image_folder(tmp_path)
    assert sorted(i.path.relative_to(tmp_path).as_posix() for i in items) == [
        "illegal_fishing/4.jpg",
        "illegal_fishing/lake_a/aid_port__1.jpg",
        "illegal_fishing/lake_b/deep/2.png",
    ]
    assert {i.label for i in items} == {"illegal_fishing"}


def test_review_export_follows_its_csv(tmp_path) -> None:
    _image(tmp_path / "background" / "f1.jpg")
    _image(tmp_path / "illegal_fishing" / "f2.jpg")
    (tmp_path / "labels.csv").write_text(
        "path,label,status,original_label,finding_id\n"
        "background/f1.jpg,background,rejected,straw_burning,1\n"
        "illegal_fishing/f2.jpg,illegal_fishing,confirmed,illegal_fishing,2\n",
        encoding="utf-8",
    )
    items = review_export(tmp_path)
    assert [(i.path.name, i.label, i.source) for i in items] == [
        ("f1.jpg", "background", "reviews"),
        ("f2.jpg", "illegal_fishing", "reviews"),
    ]
    (tmp_path / "labels.csv").write_text("path,label\nbackground/f1.jpg,smoke\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2"):
        review_export(tmp_path)


def test_holdout_split_is_stratified_and_disjoint(tmp_path) -> None:
    for k in range(20):
        _image(tmp_path / "background" / f"a__{k}.jpg")
        _image(tmp_path / "illegal_construction" / f"b__{k}.jpg")
    train, held = split_holdout(image_folder(tmp_path), fraction=0.25, seed=3)
    assert len(held) == 10 and len(train) == 30
    assert {i.path for i in train}.isdisjoint({i.path for i in held})
    assert sum(i.label == "background" for i in held) == 5


def test_load_tile_resizes_and_reports_corrupt_files(tmp_path) -> None:
    _image(tmp_path / "x.png", size=(300, 200))
    assert load_tile(tmp_path / "x.png", 64).shape == (64, 64, 3)
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"bad\.jpg"):
        load_tile(tmp_path / "bad.jpg", 64)


def test_metrics_on_a_known_confusion(tmp_path) -> None:
    y_true = [0, 0, 0, 1, 1, 3, 3, 3]
    y_pred = [0, 0, 3, 1, 0, 3, 3, 3]
    m = classification_metrics(y_true, y_pred)
    assert m.confusion[0] == (2, 0, 0, 1)
    assert m.precision["illegal_construction"] == pytest.approx(2 / 3)
    assert m.recall["illegal_construction"] == pytest.approx(2 / 3)
    assert m.recall["straw_burning"] == pytest.approx(0.5)
    assert m.support["illegal_fishing"] == 0
    # macro-F1 over the three classes present: (2/3 + 2/3 + 6/7) / 3
    assert m.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 6 / 7) / 3)
    assert "macro-F1 0.730" in format_metrics(m)
    png = save_confusion_png(m, tmp_path / "cm.png", title="test")
    with Image.open(png) as image:
        assert image.size[0] > 300 and image.mode == "RGB"


def test_weights_round_trip_in_fp16(tmp_path) -> None:
    model = build_model().eval()
    record = WeightsRecord(name="t", metrics={"x": {"macro_f1": 0.5}})
    path = save_weights(model, record, tmp_path / "w.pt")
    assert path.stat().st_size < 20_000_000
    loaded, loaded_record = load_weights(path)
    assert loaded_record == record and loaded_record.categories == CLASSES
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=0.05)
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(WeightsError, match=r"bad\.pt .*\(not a PyTorch checkpoint\)$"):
        load_weights(tmp_path / "bad.pt")
    (tmp_path / "notes.txt").write_text("my notes\n")  # torch said only "105" here
    with pytest.raises(WeightsError, match=r"not a PyTorch checkpoint"):
        load_weights(tmp_path / "notes.txt")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match=r"expected a record and a state_dict: KeyError"):
        load_weights(tmp_path / "other.pt")


def test_pretrained_backbone_is_imagenet_mobilenet() -> None:
    model = build_model(pretrained_backbone=True)
    first = model.features[0][0].weight
    assert first.shape == (32, 3, 3, 3) and float(first.detach().abs().sum()) > 1.0
    assert np.isfinite(first.detach().numpy()).all()


def test_folded_model_scores_like_the_trained_one() -> None:
    """Inference folds batch norms into the convs: no BatchNorm2d is left, the scores are the
    same up to float rounding, and the trained model itself is not touched."""
    from torch import nn

    from vision.models import fold_batchnorm

    torch.manual_seed(0)
    model = build_model().eval()
    for m in model.modules():  # trained-looking statistics, not the identity defaults
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.rand(4, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-4, rtol=1e-4)
