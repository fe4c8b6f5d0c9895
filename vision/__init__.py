"""Imagery: datasets, models, training, tiled inference and georeferenced findings."""
