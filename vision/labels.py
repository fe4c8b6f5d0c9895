"""The classification labels: these exact strings appear in every output of GridPatrol."""

from __future__ import annotations

__all__ = ["CLASSES", "VIOLATIONS", "BACKGROUND", "class_index"]

BACKGROUND = "background"
#: The violation classes, in the order the model's outputs use (background last).
VIOLATIONS: tuple[str, ...] = ("illegal_construction", "straw_burning", "illegal_fishing")
CLASSES: tuple[str, ...] = (*VIOLATIONS, BACKGROUND)


def class_index(label: str) -> int:
    """The model output index of a label; raises ValueError naming the valid labels."""
    try:
        return CLASSES.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; labels are {', '.join(CLASSES)}") from None
