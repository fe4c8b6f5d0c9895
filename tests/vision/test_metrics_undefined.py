"""Scores with a zero denominator are undefined: "n/a" in the table and null in JSON, not 0."""

from __future__ import annotations

import json

import pytest

from vision.evaluate import classification_metrics, format_metrics
from vision.labels import CLASSES


def _row(table: str, name: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.startswith(name + " "))


def test_a_class_never_predicted_nor_present_has_no_scores() -> None:
    # classes 0 and 3 only; class 1 is predicted once but never present; class 2 never appears
    m = classification_metrics([0, 0, 3, 3], [0, 1, 3, 3])
    never, absent = CLASSES[2], CLASSES[1]
    assert (m.precision[never], m.recall[never], m.f1[never]) == (None, None, None)
    assert m.precision[absent] == 0.0 and m.recall[absent] is None and m.f1[absent] == 0.0
    assert m.precision[CLASSES[0]] == 1.0 and m.recall[CLASSES[0]] == 0.5
    table = format_metrics(m)
    assert _row(table, never) == [never, "n/a", "n/a", "n/a", "0"]
    assert _row(table, absent) == [absent, "0.000", "n/a", "0.000", "0"]
    per_class = json.loads(json.dumps(m.to_dict()))["per_class"]
    assert per_class[never] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert per_class[absent]["recall"] is None and per_class[absent]["precision"] == 0.0


def test_a_present_class_never_predicted_has_undefined_precision_and_zero_f1() -> None:
    m = classification_metrics([0, 1], [0, 0])
    assert m.precision[CLASSES[1]] is None
    assert m.recall[CLASSES[1]] == 0.0 and m.f1[CLASSES[1]] == 0.0
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)
