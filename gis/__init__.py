"""Geometry and geodesy: metric frames, polygons, vector files, rasters and camera math.

The bottom of the stack: imports nothing else of GridPatrol's.
"""
