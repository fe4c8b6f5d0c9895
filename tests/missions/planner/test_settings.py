import pytest

from missions.errors import PlanningError
from missions.planner import PlanSettings
from missions.planner.settings import SettingError


def test_geometry_follows_the_camera(settings: PlanSettings) -> None:
    assert settings.gsd_m == pytest.approx(0.02743, rel=1e-3)
    assert settings.footprint_m == pytest.approx((150.0, 100.0))
    assert settings.line_spacing_m == pytest.approx(45.0)
    assert settings.trigger_distance_m == pytest.approx(25.0)
    assert settings.design_multiplicity == 12
    assert settings.usable_flight_s == pytest.approx(25 * 60 * 0.8)


@pytest.mark.parametrize("overlap", [1.0, 1.2, -0.1])
def test_overlap_of_100_percent_or_more_is_refused(camera, overlap: float) -> None:
    with pytest.raises(PlanningError, match="below 100 %"):
        PlanSettings(camera=camera, altitude_m=100, side_overlap=overlap)


@pytest.mark.parametrize("altitude", [5.0, 600.0])
def test_altitude_outside_10_to_500_m_is_refused(camera, altitude: float) -> None:
    with pytest.raises(PlanningError, match="between 10 and 500 m"):
        PlanSettings(camera=camera, altitude_m=altitude)


def test_speed_must_be_positive(camera) -> None:
    with pytest.raises(SettingError, match="settings: speed must be between") as caught:
        PlanSettings(camera=camera, altitude_m=100, speed_mps=0)
    assert caught.value.setting == "speed_mps"
    assert str(caught.value.named("--speed")).startswith("settings: --speed must be between")


@pytest.mark.parametrize(
    ("options", "setting", "shown"),
    [
        ({"turn_seconds_per_90": float("nan")}, "turn_seconds_per_90", "turn time per 90°"),
        ({"battery_minutes": float("inf")}, "battery_minutes", "battery flight time"),
        ({"battery_reserve": 1.0}, "battery_reserve", "battery reserve must be at least 0 %"),
        ({"lead_in_m": -5.0}, "lead_in_m", "lead-in must be 0 m or more, got -5 m"),
    ],
)
def test_setting_errors_name_the_setting_in_words(camera, options, setting, shown) -> None:
    with pytest.raises(SettingError) as caught:
        PlanSettings(camera=camera, altitude_m=100, **options)
    assert caught.value.setting == setting and shown in str(caught.value)
    assert "_" not in str(caught.value)  # no field names such as battery_minutes


def test_a_gsd_error_is_in_cm_per_px(camera) -> None:
    with pytest.raises(SettingError, match=r"GSD must be a positive number of cm/px, got nan"):
        PlanSettings.from_gsd(camera=camera, gsd_m=float("nan"))


def test_profiles_set_overlaps_and_explicit_values_override(camera) -> None:
    mapping = PlanSettings.for_profile("mapping", camera=camera, altitude_m=100)
    patrol = PlanSettings.for_profile("patrol", camera=camera, altitude_m=100)
    assert (mapping.front_overlap, mapping.side_overlap) == (0.75, 0.70)
    assert patrol.line_spacing_m > 2.5 * mapping.line_spacing_m
    assert patrol.design_multiplicity == 1
    custom = PlanSettings.for_profile("patrol", camera=camera, altitude_m=100, side_overlap=0.3)
    assert (custom.front_overlap, custom.side_overlap, custom.profile) == (0.2, 0.3, "patrol")
    with pytest.raises(PlanningError, match="unknown profile"):
        PlanSettings.for_profile("survey", camera=camera, altitude_m=100)


def test_from_gsd_picks_the_altitude(camera) -> None:
    settings = PlanSettings.from_gsd(camera=camera, gsd_m=0.02)
    assert settings.gsd_m == pytest.approx(0.02)
    with pytest.raises(PlanningError, match="between 10 and 500 m"):
        PlanSettings.from_gsd(camera=camera, gsd_m=0.5)
