"""Coherent noise as a pure function of world coordinates (metres).

Every texture in a synthetic scene is evaluated at the ground position of each pixel, never drawn
from a sequential random stream, so any window of a world renders identically whether it is drawn
alone or as part of a larger raster, at any ground sampling distance.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hash01", "value_noise", "fbm"]

_M1 = np.uint32(0x27D4EB2D)
_M2 = np.uint32(0x165667B1)
_M3 = np.uint32(0x2C1B3C6D)
_M4 = np.uint32(0x297A2D39)


def hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A uniform value in [0, 1) for every integer lattice point (ix, iy) and seed."""
    with np.errstate(over="ignore"):
        x = np.asarray(ix, dtype=np.int64).astype(np.uint32)
        y = np.asarray(iy, dtype=np.int64).astype(np.uint32)
        h = x * _M1 ^ y * _M2 ^ np.uint32(seed & 0xFFFFFFFF) * _M4
        h ^= h >> np.uint32(15)
        h *= _M3
        h ^= h >> np.uint32(12)
        h *= _M1
        h ^= h >> np.uint32(16)
    return h.astype(np.float64) / 4294967296.0


def value_noise(x: np.ndarray, y: np.ndarray, scale_m: float, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1) with features about `scale_m` metres across."""
    fx = np.asarray(x, dtype=np.float64) / scale_m
    fy = np.asarray(y, dtype=np.float64) / scale_m
    ix = np.floor(fx)
    iy = np.floor(fy)
    tx = fx - ix
    ty = fy - iy
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)
    v00 = hash01(ix, iy, seed)
    v10 = hash01(ix + 1, iy, seed)
    v01 = hash01(ix, iy + 1, seed)
    v11 = hash01(ix + 1, iy + 1, seed)
    top = v00 + (v10 - v00) * tx
    bottom = v01 + (v11 - v01) * tx
    return top + (bottom - top) * ty


def fbm(
    x: np.ndarray, y: np.ndarray, scale_m: float, seed: int, *, octaves: int = 3, gain: float = 0.5
) -> np.ndarray:
    """Fractal (summed-octave) value noise centred on 0, roughly within [-0.5, 0.5]."""
    total = np.zeros(np.broadcast(np.asarray(x), np.asarray(y)).shape)
    amplitude = 1.0
    norm = 0.0
    scale = scale_m
    for octave in range(octaves):
        total += amplitude * (value_noise(x, y, scale, seed + 7919 * octave) - 0.5)
        norm += amplitude
        amplitude *= gain
        scale /= 2.0
    return total / norm
