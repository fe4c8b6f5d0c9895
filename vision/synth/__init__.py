"""Procedural nadir scenes at drone resolution, with planted violations and their truth.

Two products share one layout and renderer: labelled tiles and scenes for training and tests
(:mod:`vision.synth.scenes`), and georeferenced world rasters the simulator photographs
(:mod:`vision.synth.world`). Only numpy, PIL, shapely and rasterio; deterministic per seed.
"""

from vision.synth.layout import Layout, Violation, plant, random_layout
from vision.synth.render import Lighting, render_bounds, render_window
from vision.synth.scenes import SceneObject, SyntheticScene, camera_effects, make_scene, make_tile
from vision.synth.world import PlantedViolation, WorldTruth, build_world, load_truth

__all__ = [
    "Layout",
    "Violation",
    "plant",
    "random_layout",
    "Lighting",
    "render_bounds",
    "render_window",
    "SceneObject",
    "SyntheticScene",
    "camera_effects",
    "make_scene",
    "make_tile",
    "PlantedViolation",
    "WorldTruth",
    "build_world",
    "load_truth",
]
