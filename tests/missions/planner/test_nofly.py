"""Regressions: no-fly zones inside a grid, over a vertex and across an edge are flown around."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from gis.crs import LocalFrame
from gis.grids import Grid
from missions.planner import plan
from missions.planner.path import Router

FRAME = LocalFrame(119.9, 32.5)
FIELD = box(0, 0, 800, 600)
L_SHAPE = Polygon([(0, 0), (900, 0), (900, 300), (400, 300), (400, 700), (0, 700)])

CASES = {
    "strictly_inside": (FIELD, Point(400, 300).buffer(60, quad_segs=4)),
    "inside_concave": (L_SHAPE, Point(200, 250).buffer(50, quad_segs=4)),
    "covers_vertex": (FIELD, Point(800, 600).buffer(80, quad_segs=4)),
    "covers_reflex_vertex": (L_SHAPE, Point(400, 300).buffer(70, quad_segs=4)),
    "cuts_edge": (FIELD, Point(400, 0).buffer(70, quad_segs=4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_zone_is_flown_around_and_the_rest_covered(settings, case) -> None:
    polygon, zone = CASES[case]
    zone_ll = FRAME.to_wgs84(zone)
    home = FRAME.inverse(-200.0, -200.0)
    result = plan([Grid(case, FRAME.to_wgs84(polygon))], settings, no_fly=[zone_ll], home=home)
    grid = result.grids[0]
    assert grid.coverage_once >= 0.995  # of the flyable area (the grid minus the keep-out)
    flyable = polygon.difference(zone.buffer(settings.nofly_margin_m))
    assert grid.area_m2 == pytest.approx(flyable.area, rel=0.01)
    for sortie in result.sorties:
        route = LineString([sortie.home] + [w[:2] for w in sortie.waypoints] + [sortie.home])
        assert not route.intersects(zone_ll)
        local = np.column_stack(FRAME.forward(*np.asarray(route.coords).T))
        # and the route keeps the whole margin the pilot set, everywhere (mm of projection slack)
        assert LineString(local).distance(zone) >= settings.nofly_margin_m - 0.01


def test_inside_zone_is_not_overflown_by_strips(settings) -> None:
    polygon, zone = CASES["strictly_inside"]
    result = plan(
        [Grid("F", FRAME.to_wgs84(polygon))],
        settings,
        no_fly=[FRAME.to_wgs84(zone)],
        home=FRAME.inverse(-200.0, -200.0),
    )
    strips = [
        LineString(np.column_stack(FRAME.forward(*np.asarray(s.coords).T)))
        for s in result.grids[0].strips
    ]
    assert min(s.distance(zone) for s in strips) >= settings.nofly_margin_m - 0.01
    assert len(result.grids[0].cells) >= 2  # the field was split around the keep-out


def test_clipped_strip_ends_can_be_routed_between() -> None:
    zone = Point(0, 0).buffer(50, quad_segs=4)
    router = Router([zone], margin_m=20.0)
    pieces = router.clip(np.array([[-300.0, 5.0], [300.0, 5.0]]))
    assert len(pieces) == 2
    assert not router.inside(np.array([pieces[0][-1], pieces[1][0]])).any()
    detour = router.route(pieces[0][-1], pieces[1][0])
    assert len(detour) > 2
    assert LineString(detour).distance(zone) >= 20.0


@given(
    margin=st.floats(2.0, 60.0),
    radius=st.floats(10.0, 120.0),
    sides=st.integers(3, 12),
    notch=st.booleans(),
    a_angle=st.floats(0.0, 2 * np.pi),
    b_angle=st.floats(0.0, 2 * np.pi),
)
def test_routes_never_come_closer_than_the_margin(
    margin, radius, sides, notch, a_angle, b_angle
) -> None:
    """Property: every transit between two points clear of the margin keeps the whole margin
    from the zone (convex polygons, and concave ones with a notch cut in)."""
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    zone = Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]))
    if notch:
        zone = zone.difference(box(0, -radius / 6, 2 * radius, radius / 6))
    router = Router([zone], margin_m=margin)
    far = radius + 3 * margin
    a = np.array([far * np.cos(a_angle), far * np.sin(a_angle)])
    b = np.array([far * np.cos(b_angle), far * np.sin(b_angle)])
    path = router.route(a, b)
    assert LineString(path).distance(zone) >= margin * (1 - 1e-9)
    # and the planner's distance is the length of that route
    assert router.distances(a, b)[0, 0] == pytest.approx(LineString(path).length)
