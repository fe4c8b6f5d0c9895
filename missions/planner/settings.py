"""Plan settings: camera, altitude, overlaps, speed, battery; validated once, read by all stages."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from gis.camera import Camera
from gis.messages import Message, msg
from missions.errors import PlanningError
from missions.planner.coverage import design_multiplicity
from missions.planner.objective import FlightTimeModel

__all__ = [
    "PlanSettings",
    "SettingError",
    "PROFILES",
    "LEGAL_MAX_ALTITUDE_M",
    "MIN_SPEED_MPS",
    "MAX_SPEED_MPS",
    "DEFAULT_MIN_PHOTO_INTERVAL_S",
]

#: Cruise speeds a survey may be planned at, m/s: slower and wind moves the vehicle more than it
#: flies; faster than multicopters survey (and photos blur at 1/1000 s and a few cm/px).
MIN_SPEED_MPS = 1.0
MAX_SPEED_MPS = 30.0
#: The shortest time between photos a survey camera is trusted to keep up with, seconds: DJI
#: survey cameras and most triggered cameras need 0.7-2 s to store a photo. A plan whose trigger
#: distance comes up faster than that at its speed is refused (see :class:`PlanSettings`).
DEFAULT_MIN_PHOTO_INTERVAL_S = 1.0
#: Metres each strip is entered ahead of its first photo, camera off (see
#: :func:`missions.planner.path.with_lead_in`). ArduCopter turns its heading at ATC_SLEW_YAW
#: (60°/s by default) while it moves off, so without a lead-in each strip's first photo is
#: rotated; the coverage report counts it so (:func:`missions.planner.path.first_photo_headings`).
#: 10 m (QGroundControl's multirotor turnaround) closes the gap but costs up to 4 % of survey
#: time on the sample grids (more where it adds a sortie), so it is an option, not the default.
DEFAULT_LEAD_IN_M = 0.0
#: The lead-in a low-coverage warning suggests (m): QGroundControl's multirotor turnaround.
SUGGESTED_LEAD_IN_M = 10.0
#: The highest a light UAV may fly in China without special approval, metres above ground
#: (Interim Regulations on the Flight Management of Unmanned Aircraft, 2024): higher plans are
#: planned, but warned of, since a vehicle's altitude fence refuses them at take-off.
LEGAL_MAX_ALTITUDE_M = 120.0

#: What messages call each setting when no caller names it (a CLI option, a form field).
SETTING_NAMES: dict[str, str] = {
    "altitude_m": "altitude",
    "gsd_m": "GSD",
    "speed_mps": "speed",
    "turn_seconds_per_90": "turn time per 90°",
    "climb_mps": "climb speed",
    "descent_mps": "descent speed",
    "battery_minutes": "battery flight time",
    "battery_reserve": "battery reserve",
    "max_distance_m": "maximum distance",
    "corridor_width_m": "corridor width",
    "min_photo_interval_s": "minimum photo interval",
    "fence_margin_m": "fence margin",
    "nofly_margin_m": "no-fly margin",
    "lead_in_m": "lead-in",
}


class SettingError(PlanningError):
    """One setting out of its range. ``setting`` is the :class:`PlanSettings` field; the message
    names it by its ``%(name)s`` value, which a CLI or a form replaces with its own name for it
    (:meth:`named`), so the user reads the option they typed, not a field name."""

    def __init__(self, setting: str, message: Message) -> None:
        super().__init__(message)
        self.setting = setting
        self.message = message

    def named(self, name: object) -> Message:
        """The message with the setting called ``name`` (e.g. ``--speed``)."""
        return Message(self.message.template, {**self.message.values, "name": name})


def _setting_error(setting: str, template: str, /, **values: object) -> SettingError:
    return SettingError(setting, msg(template, name=SETTING_NAMES[setting], **values))


def _shown(value: object, unit: str = "") -> str:
    return f"{value:g}{unit}" if _number(value) else repr(value)


#: Overlaps (front, side) of the two jobs pilots fly.
#: mapping: 75/70 %, the usual photogrammetry overlaps for orthomosaics.
#: patrol: every point photographed at least once with a margin, nothing more. 15 % side overlap
#: puts the outermost strip half a spacing inside an edge, so edges are seen with a margin of
#: 7.5 % of the footprint (11 m at 100 m with a Phantom 4 Pro) and neighbouring strips overlap by
#: 15 % (22 m), which absorbs GNSS error (±2-5 m), crabbing in wind and small yaw errors; 20 % front
#: overlap leaves 20 m between consecutive photos at 100 m against trigger-position jitter at
#: 10 m/s. Flight time falls to about a third of mapping.
PROFILES: dict[str, tuple[float, float]] = {"mapping": (0.75, 0.70), "patrol": (0.20, 0.15)}


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSettings:
    """Everything a plan depends on besides the grids; all lengths in metres, times in seconds.

    ``end_margin_m`` is how far the first and last photos of a strip reach beyond the area the
    strip is responsible for (default: 10 % of the along-track footprint).

    ``lead_in_m`` is how far ahead of its first photo each strip is entered, camera off, so the
    vehicle's turn into it is done before that photo (see :data:`DEFAULT_LEAD_IN_M`).

    ``speed_mps`` must lie within :data:`MIN_SPEED_MPS`-:data:`MAX_SPEED_MPS`, and at that speed
    the photos, one every trigger distance, must come at least ``min_photo_interval_s`` apart
    (the camera's shortest interval between photos): otherwise the camera skips photos and the
    plan's coverage is a fiction, so the settings are refused with the fastest speed that fits
    (the pilot's speed is never changed behind their back).
    """

    camera: Camera
    altitude_m: float
    front_overlap: float = 0.75
    side_overlap: float = 0.70
    speed_mps: float = 10.0
    turn_seconds_per_90: float = 3.0
    climb_mps: float = 2.5
    descent_mps: float = 1.5
    battery_minutes: float = 25.0
    battery_reserve: float = 0.2
    max_distance_m: float | None = None
    fence_margin_m: float = 30.0
    nofly_margin_m: float = 20.0
    lead_in_m: float = DEFAULT_LEAD_IN_M
    corridor_width_m: float | None = None
    end_margin_m: float | None = None
    min_photo_interval_s: float = DEFAULT_MIN_PHOTO_INTERVAL_S
    profile: str = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.camera, Camera):
            raise PlanningError(
                msg(
                    "settings: camera must be a gis.camera.Camera, got %(camera)r",
                    camera=self.camera,
                )
            )
        for name, value in (("front", self.front_overlap), ("side", self.side_overlap)):
            if not (_number(value) and 0.0 <= value < 1.0):
                shown = f"{value * 100:g} %" if _number(value) else repr(value)
                raise PlanningError(
                    msg(
                        "settings: %(which)s overlap must be at least 0 %% and below 100 %%, "
                        "got %(value)s",
                        which=msg("front") if name == "front" else msg("side"),
                        value=shown,
                    )
                )
        if not (_number(self.altitude_m) and 10.0 <= self.altitude_m <= 500.0):
            raise _setting_error(
                "altitude_m",
                "settings: %(name)s must be between 10 and 500 m above ground, got %(value)s",
                value=_shown(self.altitude_m, " m"),
            )
        if not (_number(self.speed_mps) and MIN_SPEED_MPS <= self.speed_mps <= MAX_SPEED_MPS):
            raise _setting_error(
                "speed_mps",
                "settings: %(name)s must be between %(lo)s and %(hi)s m/s, got %(value)s",
                lo=f"{MIN_SPEED_MPS:g}",
                hi=f"{MAX_SPEED_MPS:g}",
                value=_shown(self.speed_mps, " m/s"),
            )
        for name in ("climb_mps", "descent_mps", "battery_minutes"):
            value = getattr(self, name)
            if not (_number(value) and value > 0):
                raise _setting_error(
                    name,
                    "settings: %(name)s must be a positive number, got %(value)s",
                    value=_shown(value),
                )
        if not (_number(self.turn_seconds_per_90) and self.turn_seconds_per_90 >= 0):
            raise _setting_error(
                "turn_seconds_per_90",
                "settings: %(name)s must be 0 s or more, got %(value)s",
                value=_shown(self.turn_seconds_per_90, " s"),
            )
        if not (_number(self.battery_reserve) and 0.0 <= self.battery_reserve < 1.0):
            raise _setting_error(
                "battery_reserve",
                "settings: %(name)s must be at least 0 %% and below 100 %%, got %(value)s",
                value=(
                    f"{self.battery_reserve * 100:g} %"
                    if _number(self.battery_reserve)
                    else repr(self.battery_reserve)
                ),
            )
        for name in ("fence_margin_m", "nofly_margin_m", "lead_in_m"):
            value = getattr(self, name)
            if not (_number(value) and value >= 0):
                raise _setting_error(
                    name,
                    "settings: %(name)s must be 0 m or more, got %(value)s",
                    value=_shown(value, " m"),
                )
        for name in ("max_distance_m", "corridor_width_m"):
            value = getattr(self, name)
            if value is not None and not (_number(value) and value > 0):
                raise _setting_error(
                    name,
                    "settings: %(name)s must be a positive number of metres, got %(value)s",
                    value=_shown(value, " m"),
                )
        if not (_number(self.min_photo_interval_s) and self.min_photo_interval_s >= 0):
            raise _setting_error(
                "min_photo_interval_s",
                "settings: %(name)s must be 0 s or more, got %(value)s",
                value=_shown(self.min_photo_interval_s, " s"),
            )
        self._check_photo_interval()
        if self.end_margin_m is not None and not (
            _number(self.end_margin_m) and 0 <= self.end_margin_m < self.footprint_m[1] / 2
        ):
            raise PlanningError(
                msg(
                    "settings: end_margin_m must be in [0, %(max)s) m, got %(value)r",
                    max=f"{self.footprint_m[1] / 2:g}",
                    value=self.end_margin_m,
                )
            )

    def _check_photo_interval(self) -> None:
        """Refuse a trigger distance the camera cannot keep up with at this speed."""
        trigger = self.trigger_distance_m
        if trigger / self.speed_mps >= self.min_photo_interval_s * (1 - 1e-9):
            return
        fastest = trigger / self.min_photo_interval_s
        values = {
            "trigger": f"{trigger:.3g}",
            "speed": f"{self.speed_mps:g}",
            "interval": _below(trigger / self.speed_mps, self.min_photo_interval_s),
            "minimum": f"{self.min_photo_interval_s:g}",
            "front": f"{self.front_overlap * 100:g}",
            "fastest": f"{math.floor(fastest * 10 + 1e-6) / 10:g}",  # rounded down: it must fit
        }
        if fastest >= MIN_SPEED_MPS:
            raise PlanningError(
                msg(
                    "settings: a photo every %(trigger)s m (front overlap %(front)s %%) at "
                    "%(speed)s m/s is one every %(interval)s s, but the camera needs "
                    "%(minimum)s s between photos: fly at most %(fastest)s m/s, lower the front "
                    "overlap or fly higher",
                    **values,
                )
            )
        raise PlanningError(
            msg(
                "settings: a photo every %(trigger)s m (front overlap %(front)s %%) at "
                "%(speed)s m/s is one every %(interval)s s, but the camera needs %(minimum)s s "
                "between photos, which even the slowest speed cannot give: lower the front "
                "overlap or fly higher",
                **values,
            )
        )

    @classmethod
    def from_gsd(cls, *, camera: Camera, gsd_m: float, **options: Any) -> PlanSettings:
        """Settings flying at the height that gives a ground sampling distance (m/px)."""
        if not (_number(gsd_m) and gsd_m > 0):
            raise _setting_error(
                "gsd_m",
                "settings: %(name)s must be a positive number of cm/px, got %(value)s",
                value=_shown(gsd_m * 100 if _number(gsd_m) else gsd_m, " cm/px"),
            )
        altitude = camera.altitude_for_gsd(gsd_m)
        if not 10.0 <= altitude <= 500.0:
            raise PlanningError(
                msg(
                    "settings: a GSD of %(gsd)s cm/px needs %(altitude)s m above ground with "
                    "the %(camera)s; altitude must be between 10 and 500 m",
                    gsd=f"{gsd_m * 100:g}",
                    altitude=f"{altitude:.0f}",
                    camera=camera.name,
                )
            )
        return cls(camera=camera, altitude_m=altitude, **options)

    @classmethod
    def for_profile(
        cls,
        name: str,
        *,
        camera: Camera,
        altitude_m: float | None = None,
        gsd_m: float | None = None,
        front_overlap: float | None = None,
        side_overlap: float | None = None,
        **options: Any,
    ) -> PlanSettings:
        """Settings for a job profile ("mapping" or "patrol"); explicit overlaps override it."""
        if name not in PROFILES:
            raise PlanningError(
                msg(
                    "settings: unknown profile %(profile)r; choose from %(choices)s",
                    profile=name,
                    choices=", ".join(PROFILES),
                )
            )
        if (altitude_m is None) == (gsd_m is None):
            raise PlanningError(msg("settings: give exactly one of altitude_m and gsd_m"))
        front, side = PROFILES[name]
        options.update(
            front_overlap=front if front_overlap is None else front_overlap,
            side_overlap=side if side_overlap is None else side_overlap,
            profile=name,
        )
        if gsd_m is not None:
            return cls.from_gsd(camera=camera, gsd_m=gsd_m, **options)
        return cls(camera=camera, altitude_m=altitude_m, **options)

    @property
    def gsd_m(self) -> float:
        return self.camera.gsd_m(self.altitude_m)

    @property
    def footprint_m(self) -> tuple[float, float]:
        """(across, along) track, metres."""
        return self.camera.footprint_m(self.altitude_m)

    @property
    def line_spacing_m(self) -> float:
        return self.camera.line_spacing_m(self.altitude_m, self.side_overlap)

    @property
    def trigger_distance_m(self) -> float:
        return self.camera.trigger_distance_m(self.altitude_m, self.front_overlap)

    @property
    def edge_margin_m(self) -> float:
        """How far photos reach beyond a strip's responsibility at its ends."""
        return 0.1 * self.footprint_m[1] if self.end_margin_m is None else self.end_margin_m

    @property
    def design_multiplicity(self) -> int:
        return design_multiplicity(self.front_overlap, self.side_overlap)

    @property
    def usable_flight_s(self) -> float:
        return self.battery_minutes * 60.0 * (1.0 - self.battery_reserve)

    @property
    def objective(self) -> FlightTimeModel:
        return FlightTimeModel(
            speed_mps=self.speed_mps,
            turn_seconds_per_90=self.turn_seconds_per_90,
            climb_mps=self.climb_mps,
            descent_mps=self.descent_mps,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a summary (camera as its dict)."""
        data = asdict(self)
        data["camera"] = self.camera.to_dict()
        return data


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _below(value: float, limit: float) -> str:
    """``value`` with the fewest significant digits that still show it below ``limit`` (0.999 s,
    not a rounded 1 s beside a 1 s minimum)."""
    for digits in range(2, 7):
        text = f"{value:.{digits}g}"
        if float(text) < limit:
            return text
    return f"{value:g}"
