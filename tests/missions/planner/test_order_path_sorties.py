import dataclasses
import itertools

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from missions.errors import PlanningError
from missions.planner import _swath_generator as swath_generator
from missions.planner.objective import FlightTimeModel
from missions.planner.order import GreedyTwoOpt, Visit, order_points, oriented_strips
from missions.planner.path import (
    MIN_LEAD_IN_M,
    FlownStrip,
    Router,
    build_path,
    first_photo_headings,
)
from missions.planner.sorties import BatterySplitter

MODEL = FlightTimeModel(speed_mps=10.0)


def _blocks(settings, count: int = 5):
    gen = swath_generator(settings)
    rng = np.random.default_rng(1)
    origins = rng.uniform(0, 3000, size=(count, 2))
    return [gen.generate(box(x, y, x + 300, y + 200), angle_deg=0.0) for x, y in origins]


def _tour_time(blocks, visits, start, end) -> float:
    pts = [start[None]]
    for v in visits:
        pts.extend(oriented_strips(blocks[v.block], reverse=v.reverse, flip=v.flip))
    pts.append(end[None])
    return MODEL.path_s(np.concatenate(pts))


def test_order_visits_every_block_once_and_beats_the_given_order(settings) -> None:
    blocks = _blocks(settings, 7)
    home = np.array([0.0, 0.0])
    visits = GreedyTwoOpt().order(blocks, router=Router(), objective=MODEL, start=home, end=home)
    assert sorted(v.block for v in visits) == list(range(7))
    naive = [Visit(k) for k in range(7)]
    assert _tour_time(blocks, visits, home, home) <= _tour_time(blocks, naive, home, home)


def test_oriented_strips_alternate_directions(settings) -> None:
    block = _blocks(settings, 1)[0]
    strips = oriented_strips(block, reverse=False, flip=False)
    dirs = [np.sign(s[-1, 0] - s[0, 0]) for s in strips]
    assert all(a == -b for a, b in itertools.pairwise(dirs))


def test_order_points_is_a_permutation_no_longer_than_nearest_neighbour() -> None:
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 1000, size=(60, 2))
    start = np.array([500.0, 500.0])
    order = order_points(pts, start=start)
    assert sorted(order) == list(range(60))
    tour = np.concatenate([start[None], pts[order], start[None]])
    rand = np.concatenate([start[None], pts, start[None]])
    assert MODEL.path_s(tour) < MODEL.path_s(rand)


def test_router_goes_around_a_no_fly_zone_and_keeps_clear() -> None:
    zone = box(400, -100, 600, 100)
    router = Router([zone], margin_m=20.0)
    route = router.route(np.array([0.0, 0.0]), np.array([1000.0, 0.0]))
    assert len(route) > 2
    line = LineString(route)
    assert line.distance(zone) >= 10.0 - 1e-6
    d = router.distances(np.array([[0.0, 0.0]]), np.array([[1000.0, 0.0]]))[0, 0]
    assert d == pytest.approx(line.length, rel=1e-9)
    assert router.distances(np.array([[0.0, 500.0]]), np.array([[1000.0, 500.0]]))[0, 0] == 1000.0


def test_router_refuses_a_point_walled_in_by_no_fly_zones() -> None:
    ring = Point(0, 0).buffer(500).difference(Point(0, 0).buffer(300))
    router = Router([ring], margin_m=20.0)
    with pytest.raises(PlanningError, match="grid X"):
        router.route(np.array([0.0, 0.0]), np.array([2000.0, 0.0]), what="grid X")


def _path(settings, strips_x=10, length=800.0):
    flown = [
        FlownStrip(
            points=np.array([[0.0, 45.0 * k], [length, 45.0 * k]])[:: 1 if k % 2 == 0 else -1],
            grid_id="G",
            cell=0,
        )
        for k in range(strips_x)
    ]
    return build_path(flown, Router())


def test_sorties_respect_the_battery_and_cover_every_strip(settings) -> None:
    path = _path(settings, 30)
    splitter = BatterySplitter(usable_s=600.0)
    routes = splitter.split(
        path, home=np.array([-100.0, 0.0]), router=Router(), objective=MODEL, altitude_m=100.0
    )
    assert len(routes) >= 5
    assert all(r.time_s <= 600.0 + 1e-6 for r in routes)
    covered = [k for r in routes for k in range(r.first_strip, r.last_strip + 1)]
    assert covered == list(range(30))
    one = BatterySplitter(usable_s=1e6).split(
        path, home=np.array([-100.0, 0.0]), router=Router(), objective=MODEL, altitude_m=100.0
    )
    assert len(one) == 1
    assert sum(r.time_s for r in routes) > one[0].time_s  # each extra sortie costs transits


def test_a_strip_beyond_one_battery_is_refused_naming_the_grid(settings) -> None:
    path = _path(settings, 2)
    with pytest.raises(PlanningError, match="grid G"):
        BatterySplitter(usable_s=600.0).split(
            path, home=np.array([-5000.0, 0.0]), router=Router(), objective=MODEL, altitude_m=100.0
        )
    with pytest.raises(PlanningError, match="maximum distance"):
        BatterySplitter(usable_s=1e6, max_distance_m=500.0).split(
            path, home=np.array([0.0, 0.0]), router=Router(), objective=MODEL, altitude_m=100.0
        )


def _serpentine(count: int = 3, length: float = 200.0, spacing: float = 40.0) -> list[FlownStrip]:
    """Strips along x, flown back and forth, `spacing` apart in y."""
    strips = []
    for k in range(count):
        ends = [[0.0, k * spacing], [length, k * spacing]]
        pts = np.array(ends if k % 2 == 0 else ends[::-1])
        strips.append(FlownStrip(points=pts, grid_id="G", cell=0))
    return strips


def test_lead_in_enters_each_strip_on_its_line_with_the_camera_off() -> None:
    path = build_path(_serpentine(), Router(), lead_in_m=10.0)
    for strip in path.strips:
        step = strip.points[1] - strip.points[0]
        direction = step / np.hypot(*step)
        assert np.allclose(strip.entry, strip.points[0] - 10.0 * direction)
    for k, connector in enumerate(path.connectors):  # joins a strip's end to the next's entry
        assert np.allclose(connector[0], path.strips[k].points[-1])
        assert np.allclose(connector[-1], path.strips[k + 1].entry)
    (route,) = BatterySplitter(usable_s=1e6).split(
        path, home=np.array([-50.0, 0.0]), router=Router(), objective=MODEL, altitude_m=50.0
    )
    # entry (off), start (on), end (off) per strip: photos only on the strips themselves
    assert route.camera_on.tolist() == [False, True, False] * 3
    assert np.allclose(route.waypoints[1::3], [s.points[0] for s in path.strips])
    plain = BatterySplitter(usable_s=1e6).split(
        build_path(_serpentine(), Router()),
        home=np.array([-50.0, 0.0]),
        router=Router(),
        objective=MODEL,
        altitude_m=50.0,
    )[0]
    assert 0 < route.time_s - plain.time_s < 3 * (10.0 / MODEL.speed_mps + 2.0)


def test_lead_in_is_shortened_to_keep_clear_of_a_no_fly_zone() -> None:
    zone = box(-30.0, -5.0, -8.0, 5.0)  # just before the first strip's start
    router = Router(no_fly=[zone], margin_m=4.0)
    strip = FlownStrip(points=np.array([[0.0, 0.0], [200.0, 0.0]]), grid_id="G", cell=0)
    (entered,) = build_path([strip], router, lead_in_m=10.0).strips
    assert entered.entry is not None and -10.0 < entered.entry[0] < 0.0
    assert not router.blocked(entered.entry, entered.points[0])[0]


def test_first_photo_faces_the_way_the_vehicle_arrives_unless_a_lead_in_turned_it() -> None:
    home = np.array([-50.0, 0.0])
    plain = build_path(_serpentine(), Router())
    headings = first_photo_headings(plain, home=home, router=Router(), sortie_starts=[0])
    # home lies on the first strip's line; later strips are entered from their connector (+y)
    assert np.allclose(headings, [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    led = build_path(_serpentine(), Router(), lead_in_m=10.0)
    headings = first_photo_headings(led, home=home, router=Router(), sortie_starts=[0])
    assert np.allclose(headings, [[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    short = build_path(_serpentine(), Router(), lead_in_m=MIN_LEAD_IN_M / 2)
    headings = first_photo_headings(short, home=home, router=Router(), sortie_starts=[0])
    assert abs(headings[1] @ np.array([-1.0, 0.0])) < 0.5  # still turning from the connector


def test_plan_coverage_counts_rotated_first_photos_without_a_lead_in(settings) -> None:
    """A patrol grid promises full coverage only when the strips are led into; without a
    lead-in the report counts each strip's first photo as turned and says what is lost."""
    from gis.crs import LocalFrame
    from gis.grids import Grid
    from missions.planner import plan

    frame = LocalFrame(120.14, 32.51)
    grid = Grid("P", frame.to_wgs84(box(0, 0, 900, 700)))
    patrol = dataclasses.replace(settings, front_overlap=0.2, side_overlap=0.15)
    without = plan([grid], dataclasses.replace(patrol, lead_in_m=0.0)).grids[0]
    led = plan([grid], dataclasses.replace(patrol, lead_in_m=10.0)).grids[0]
    assert led.coverage_once == 1.0
    assert without.coverage_once < 0.999
    assert led.flight_time_s > without.flight_time_s
