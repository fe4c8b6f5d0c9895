"""Pure pieces without sockets: physics, clock, parameters, autopilot, EXIF and raster helpers."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from gis.errors import FormatError
from gis.exif import GeoTag, read_geotag, write_jpeg
from gis.raster import pixel_to_world, read_window_resampled, view_transform, world_to_pixel
from simulator.autopilot import Autopilot, ItemReached, Mode, StoredItem, Text
from simulator.clock import SimClock
from simulator.errors import ParameterError, SimulatorConfigError
from simulator.params import ParamTable, read_parm_file
from simulator.physics import Airframe, Setpoint, VehicleState, Wind, step, wind_from

AIRFRAME = Airframe()
CALM = Wind()


def _fly(state: VehicleState, setpoint: Setpoint, seconds: float, wind: Wind = CALM, dt=0.02):
    for _ in range(round(seconds / dt)):
        state = step(state, setpoint, AIRFRAME, wind, dt)
    return state


def test_vehicle_reaches_a_target_without_exceeding_its_limits() -> None:
    state = VehicleState(h=30.0, landed=False)
    setpoint = Setpoint(target=(300.0, 0.0, 30.0), speed=10.0)
    peak_speed = peak_accel = 0.0
    for _ in range(round(60 / 0.02)):
        previous = state
        state = step(state, setpoint, AIRFRAME, CALM, 0.02)
        peak_speed = max(peak_speed, state.ground_speed)
        peak_accel = max(
            peak_accel, math.hypot(state.vx - previous.vx, state.vy - previous.vy) / 0.02
        )
    assert math.hypot(state.x - 300.0, state.y) < 0.2
    assert peak_speed <= 10.0 + 1e-9
    assert peak_accel <= AIRFRAME.accel_mss + 1e-9


def test_climb_and_descent_rates_are_limited() -> None:
    state = _fly(VehicleState(), Setpoint(target=(0, 0, 50.0), climb=2.5), 5.0)
    assert 0 < state.h <= 2.5 * 5.0
    assert not state.landed


def test_headwind_beyond_airspeed_limit_slows_the_ground_speed() -> None:
    setpoint = Setpoint(target=(0.0, 10_000.0, 30.0), speed=15.0)  # flying north
    calm = _fly(VehicleState(h=30.0, landed=False), setpoint, 20.0)
    windy = _fly(VehicleState(h=30.0, landed=False), setpoint, 20.0, wind=wind_from(10.0, 0.0))
    assert calm.ground_speed == pytest.approx(15.0, abs=0.01)
    assert windy.ground_speed == pytest.approx(AIRFRAME.max_airspeed_mps - 10.0, abs=0.01)
    assert windy.current_a > calm.current_a


def test_battery_drains_faster_with_speed_and_when_armed() -> None:
    hover = _fly(VehicleState(h=30, landed=False), Setpoint(target=(0, 0, 30)), 60)
    cruise = _fly(VehicleState(h=30, landed=False), Setpoint(target=(10_000, 0, 30), speed=15), 60)
    idle = _fly(VehicleState(), Setpoint(motors=False), 60)
    assert idle.consumed_mah < hover.consumed_mah < cruise.consumed_mah
    assert hover.consumed_mah == pytest.approx(AIRFRAME.hover_amps * 60 / 3.6, rel=0.05)
    assert cruise.voltage < hover.voltage


def test_landing_touches_down_and_stays_down() -> None:
    state = _fly(VehicleState(h=3.0, landed=False), Setpoint(land=True, descent=0.5), 10.0)
    assert state.landed and state.h == 0.0 and state.vz == 0.0


def test_clock_runs_speedup_times_the_wall_clock() -> None:
    wall = [100.0]
    clock = SimClock(speedup=50, step_s=0.02, wall=lambda: wall[0])
    wall[0] += 0.1  # 5 simulated seconds
    assert clock.steps_due(limit=10_000) == 250
    for _ in range(250):
        clock.advance()
    assert clock.now == pytest.approx(5.0)
    assert clock.steps_due() == 0
    with pytest.raises(SimulatorConfigError):
        SimClock(speedup=0)


def test_param_table_rounds_integers_and_rejects_unknown_names(tmp_path) -> None:
    table = ParamTable({"FENCE_ENABLE": 1.4, "WPNAV_SPEED": 1234.5})
    assert table["FENCE_ENABLE"] == 1.0 and table["WPNAV_SPEED"] == 1234.5
    assert list(table) == sorted(table)
    with pytest.raises(ParameterError, match="NOPE"):
        table.set("NOPE", 1)
    with pytest.raises(ParameterError, match="finite"):
        table.set("RTL_ALT", float("nan"))
    parm = tmp_path / "x.parm"
    parm.write_text("RTL_ALT\tabc\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"x\.parm:1"):
        read_parm_file(parm)


def _autopilot(**params) -> Autopilot:
    return Autopilot(home=(32.51, 120.14, 5.0), params=ParamTable({"SIM_GPS_DELAY": 0, **params}))


def _run(autopilot: Autopilot, seconds: float, dt: float = 0.02) -> list:
    events = []
    for _ in range(round(seconds / dt)):
        autopilot.tick(autopilot.now + dt, dt)
        events += autopilot.drain_events()
    return events


def test_do_commands_run_when_the_previous_nav_command_completes() -> None:
    ap = _autopilot()
    lat2 = round((32.51 + 100 / 111_320) * 1e7)
    ap.replace_list(
        0,
        [
            StoredItem(22, 3, z=20.0),
            StoredItem(178, 2, params=(1, 4.0, -1, 0)),  # slow down once airborne
            StoredItem(16, 3, x=lat2, y=round(120.14 * 1e7), z=20.0),
            StoredItem(21, 3),
        ],
    )
    assert ap.set_mode(Mode.AUTO)
    assert ap.arm()[0]
    events = _run(ap, 10.0)  # takeoff to 20 m at 2.5 m/s takes about 10 s
    assert ItemReached(1) in events
    _run(ap, 5.0)
    assert ap.state.ground_speed == pytest.approx(4.0, abs=0.05)
    events = _run(ap, 120.0)
    assert [e.seq for e in events if isinstance(e, ItemReached)] == [3, 4]
    assert not ap.armed and ap.landed


def test_unknown_mode_and_position_modes_without_gps_are_refused() -> None:
    ap = Autopilot(home=(32.51, 120.14, 5.0), params=ParamTable({"SIM_GPS_DELAY": 10}))
    assert not ap.set_mode(1)
    assert not ap.set_mode(Mode.GUIDED)
    texts = [e.text for e in ap.drain_events() if isinstance(e, Text)]
    assert any("GUIDED requires position" in t for t in texts)
    assert ap.set_mode(Mode.ALT_HOLD)


def test_geotag_round_trip_with_dji_xmp(tmp_path) -> None:
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    taken = datetime(2026, 5, 1, 3, 4, 5, 250_000, tzinfo=UTC)
    tag = GeoTag(32.5123456, 120.1456789, 45.25, 40.0, 271.5, taken)
    path = write_jpeg(tmp_path / "a.jpg", image, tag)
    back = read_geotag(path)
    assert back is not None
    assert back.lat == pytest.approx(tag.lat, abs=1e-8) and back.lon == pytest.approx(
        tag.lon, abs=1e-8
    )
    assert back.altitude_m == pytest.approx(45.25)
    assert back.relative_altitude_m == pytest.approx(40.0)
    assert back.yaw_deg == pytest.approx(271.5, abs=0.01)
    assert back.time == taken
    data = path.read_bytes()
    assert b'drone-dji:GimbalPitchDegree="-90.00"' in data and b"drone-dji:FlightYawDegree" in data
    south_west = write_jpeg(tmp_path / "b.jpg", image, GeoTag(-33.9, -70.6, -2.0))
    assert read_geotag(south_west) == GeoTag(
        pytest.approx(-33.9), pytest.approx(-70.6), pytest.approx(-2.0)
    )
    with pytest.raises(FormatError, match="not a WGS84"):
        write_jpeg(tmp_path / "c.jpg", image, GeoTag(120.0, 32.0, 0.0))


def test_photo_without_gps_has_no_geotag(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(path)
    assert read_geotag(path) is None


def test_view_transform_puts_the_heading_at_the_top() -> None:
    east = view_transform((100.0, 200.0), 90.0, 0.5, 40, 20)
    # Top centre of the image lies 5 m ahead (east) of the centre; the right edge 10 m south.
    assert east @ (20, 0) == pytest.approx((105.0, 200.0))
    assert east @ (40, 10) == pytest.approx((100.0, 190.0))
    north = view_transform((0.0, 0.0), 0.0, 1.0, 4, 2)
    assert pixel_to_world(north, 0, 0) == pytest.approx((-1.5, 0.5))
    assert world_to_pixel(north, -1.5, 0.5) == pytest.approx((0.5, 0.5))


def test_read_window_resampled_reads_only_the_bounds(tmp_path) -> None:
    path = tmp_path / "r.tif"
    data = np.arange(100, dtype=np.uint8).reshape(1, 10, 10)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="uint8",
        crs="EPSG:32651",
        transform=from_origin(0, 10, 1, 1),
    ) as dataset:
        dataset.write(data)
    with rasterio.open(path) as dataset:
        window = read_window_resampled(dataset, (2, 6, 4, 8), (2, 2))
        assert window[0].tolist() == [[22, 23], [32, 33]]
        outside = read_window_resampled(dataset, (20, 20, 22, 22), (2, 2))
        assert not outside.any()
        with pytest.raises(FormatError):
            read_window_resampled(dataset, (4, 6, 2, 8), (2, 2))


def test_rtl_goes_to_the_nearest_rally_point_and_lands() -> None:
    ap = _autopilot(RTL_LOIT_TIME=1000)
    rally_lat = 32.51 + 200 / 111_320
    ap.replace_list(2, [StoredItem(5100, 3, x=round(rally_lat * 1e7), y=round(120.14 * 1e7), z=20)])
    assert ap.set_mode(Mode.GUIDED) and ap.arm()[0] and ap.takeoff(30.0)
    _run(ap, 15.0)
    lon, lat = ap.frame.inverse(0.0, 150.0)
    assert ap.goto(lat, lon, 30.0)
    _run(ap, 30.0)
    assert ap.set_mode(Mode.RTL)
    _run(ap, 120.0)
    assert not ap.armed and ap.landed
    north = (ap.position()[0] - 32.51) * 111_320
    assert north == pytest.approx(200.0, abs=2.5)


def test_rearming_in_auto_after_a_completed_mission_starts_from_the_beginning() -> None:
    ap = _autopilot()
    ap.replace_list(0, [StoredItem(22, 3, z=5.0), StoredItem(21, 3)])
    assert ap.set_mode(Mode.AUTO) and ap.arm()[0]
    first = [e.seq for e in _run(ap, 60.0) if isinstance(e, ItemReached)]
    assert first == [1, 2] and ap.mission_complete and not ap.armed
    assert ap.arm()[0]
    again = [e.seq for e in _run(ap, 60.0) if isinstance(e, ItemReached)]
    assert again == [1, 2]


def test_a_mission_uploaded_after_landing_starts_from_its_first_item() -> None:
    # ArduCopter resets the mission on disarm: a new upload flies from item 1, not the old RTL.
    ap = _autopilot()
    mission = [StoredItem(22, 3, z=5.0), StoredItem(16, 3, z=5.0), StoredItem(20, 3)]
    ap.replace_list(0, mission)
    assert ap.set_mode(Mode.AUTO) and ap.arm()[0]
    first = [e.seq for e in _run(ap, 90.0) if isinstance(e, ItemReached)]
    assert first == [1, 2, 3] and not ap.armed
    ap.replace_list(0, mission)
    assert ap.set_mode(Mode.GUIDED) and ap.arm()[0] and ap.takeoff(5.0)
    _run(ap, 10.0)
    assert ap.set_mode(Mode.AUTO)
    again = [e.seq for e in _run(ap, 90.0) if isinstance(e, ItemReached)]
    assert again[:2] == [1, 2]


def _corner_mission(ap: Autopilot) -> None:
    """Take off, fly 100 m north, then turn 90 degrees to fly 100 m east."""
    north = round((32.51 + 100 / 111_320) * 1e7)
    east = round((120.14 + 100 / (111_320 * math.cos(math.radians(32.51)))) * 1e7)
    ap.replace_list(
        0,
        [
            StoredItem(22, 3, z=20.0),
            StoredItem(16, 3, x=north, y=round(120.14 * 1e7), z=20.0),
            StoredItem(16, 3, x=north, y=east, z=20.0),
            StoredItem(21, 3),
        ],
    )
    assert ap.set_mode(Mode.AUTO)
    assert ap.arm()[0]


@pytest.mark.parametrize("slew_cds", [6000, 3000])
def test_auto_yaw_turns_at_atc_slew_yaw_while_moving_off(slew_cds: int) -> None:
    # ArduCopter slews the yaw target at ATC_SLEW_YAW (6000 cdeg/s by default) in AUTO and does
    # not wait for the heading before moving on: photos taken just after a corner are rotated.
    ap = _autopilot(ATC_SLEW_YAW=slew_cds)
    _corner_mission(ap)
    _run(ap, 10.0)  # take off and face north
    while ap.current_seq < 3:
        _run(ap, 0.02)
    corner = (ap.state.x, ap.state.y)
    start, peak = ap.now, 0.0
    while abs((ap.state.yaw_deg - 90.0 + 180.0) % 360.0 - 180.0) > 0.5:
        _run(ap, 0.02)
        peak = max(peak, abs(ap.state.yaw_rate_dps))
        assert ap.now - start < 10.0, "the vehicle never faced the next waypoint"
    rate = slew_cds / 100.0
    assert peak == pytest.approx(rate, rel=1e-3)
    assert ap.now - start >= 89.0 / rate  # no faster than the slew allows
    assert math.dist(corner, (ap.state.x, ap.state.y)) > 1.0  # it moved off while turning


def test_auto_yaw_keeps_turning_on_a_short_leg_close_to_its_waypoint() -> None:
    # A survey strip's short lead-in, entered facing across it: ArduCopter keeps the heading on
    # the leg's track however close it gets (on legs of 2 m or more), so a 90 degree turn at
    # 60 deg/s is done by the time the waypoint where the camera starts is reached.
    ap = _autopilot()
    m_lon = 1 / (111_320 * math.cos(math.radians(32.51)))
    lat = round(32.51 * 1e7)
    ap.replace_list(
        0,
        [
            StoredItem(22, 3, z=20.0),
            StoredItem(16, 3, x=lat, y=round((120.14 + 5 * m_lon) * 1e7), z=20.0),
            StoredItem(16, 3, x=lat, y=round((120.14 + 105 * m_lon) * 1e7), z=20.0),
            StoredItem(21, 3),
        ],
    )
    assert ap.set_mode(Mode.AUTO)
    assert ap.arm()[0]
    for _ in range(round(60 / 0.02)):
        reached = [e.seq for e in _run(ap, 0.02) if isinstance(e, ItemReached)]
        if 2 in reached:
            break
    else:
        pytest.fail("the short leg's waypoint was never reached")
    assert ap.state.x < 5.0  # reached on the way, not after an overshoot
    assert abs((ap.state.yaw_deg - 90.0 + 180.0) % 360.0 - 180.0) < 3.0
