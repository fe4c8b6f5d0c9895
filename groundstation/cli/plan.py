"""`gridpatrol plan`: grid polygons -> survey routes -> plan files and a summary."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from gis.messages import counted
from groundstation.cli._files import check_folder, warn_left_out
from missions.planner.settings import (
    DEFAULT_LEAD_IN_M,
    MAX_SPEED_MPS,
    MIN_SPEED_MPS,
    SUGGESTED_LEAD_IN_M,
)
from simulator.params import DEFAULTS as SIM_PARAMS

__all__ = [
    "plan_command",
    "sortie_paths",
    "parse_lat_lon",
    "no_fly_warnings",
    "coverage_warnings",
    "altitude_warnings",
    "fence_warnings",
    "DEFAULT_FENCE_RADIUS_M",
    "ARDUCOPTER_FENCE_RADIUS_M",
]

MISSION_SUFFIXES = (".plan", ".waypoints", ".kml", ".geojson")
#: The circular fence (FENCE_RADIUS, m) of `gridpatrol sitl` unless its --params change it:
#: sorties going farther are refused by `fly`'s geofence check and by the vehicle, so the
#: plan warns of them.
DEFAULT_FENCE_RADIUS_M = float(SIM_PARAMS["FENCE_RADIUS"].default)
#: ArduCopter's own default FENCE_RADIUS (AC_FENCE_CIRCLE_RADIUS_DEFAULT), named in the warning:
#: a real vehicle with its fence on and the radius untouched stops even sooner.
ARDUCOPTER_FENCE_RADIUS_M = 300.0


def parse_lat_lon(text: str, *, option: str = "--home") -> tuple[float, float]:
    """'LAT,LON' -> (lon, lat), checked as WGS84 degrees; a pair given as LON,LAT is refused
    with the pair to give instead."""
    from shapely.geometry import Point

    from gis.errors import CoordinateError
    from gis.shapes import check_lonlat

    parts = [p.strip() for p in text.split(",")]
    try:
        lat, lon = (float(p) for p in parts)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ValueError(text)
    except ValueError:
        raise click.BadParameter(
            f"expected LAT,LON in degrees, got {text!r}", param_hint=option
        ) from None
    as_given = abs(lat) <= 90 and abs(lon) <= 180
    if not as_given and not (abs(lon) <= 90 and abs(lat) <= 180):  # not even a swapped pair
        raise click.BadParameter(
            f"{text!r}: latitude must be within ±90 and longitude within ±180", param_hint=option
        )
    swapped = not as_given
    if not swapped:
        try:  # a pair outside China that lies inside it read the other way round
            check_lonlat(Point(lon, lat), name=f"{option} {text}")
        except CoordinateError:
            swapped = True
    if swapped:
        raise click.BadParameter(
            f"{option} is LAT,LON; {text.strip()} looks like LON,LAT: did you mean "
            f"{parts[1]},{parts[0]}?",
            param_hint=option,
        )
    return lon, lat


def sortie_paths(path: Path, sorties: int) -> list[Path]:
    """Files for several sorties: NAME-s1.EXT ... NAME-sN.EXT (NAME.EXT holds the first)."""
    if sorties <= 1:
        return [path]
    return [path.with_name(f"{path.stem}-s{i}{path.suffix}") for i in range(1, sorties + 1)]


#: Option types: a positive number, a number >= 0, a percentage below 100.
POSITIVE = click.FloatRange(min=0, min_open=True)
# the planner's own limits (the web planner's too), shown in --help and checked by click
NON_NEGATIVE = click.FloatRange(min=0)
PERCENT = click.FloatRange(min=0, max=100, max_open=True)


def _percent(value: float | None) -> float | None:
    return None if value is None else value / 100.0


@click.command("plan")
@click.argument("grids", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--nofly",
    type=click.Path(dir_okay=False, path_type=Path),
    help="No-fly zones file (features with a kind other than no_fly_zone are skipped).",
)
@click.option("--home", help="Take-off point LAT,LON (default: beside the first grid).")
@click.option(
    "--camera",
    default="phantom4pro",
    show_default=True,
    help="Preset name (any case) or JSON file.",
)
@click.option(
    "--profile",
    type=click.Choice(["mapping", "patrol"]),
    default="mapping",
    show_default=True,
    help="mapping: 75/70 % overlap; patrol: every point seen once.",
)
@click.option(
    "--altitude",
    type=float,
    help="Height above ground, metres (10-500; above 120 is warned of). Required: this or --gsd.",
)
@click.option(
    "--gsd",
    type=POSITIVE,
    help="Target ground sampling distance, cm/px. Required: this or --altitude.",
)
@click.option("--front-overlap", type=float, help="Front overlap %, overrides the profile.")
@click.option("--side-overlap", type=float, help="Side overlap %, overrides the profile.")
@click.option(
    "--speed",
    type=click.FloatRange(MIN_SPEED_MPS, MAX_SPEED_MPS),
    default=10.0,
    show_default=True,
    help="Cruise speed, m/s.",
)
@click.option(
    "--turn-seconds",
    type=NON_NEGATIVE,
    default=3.0,
    show_default=True,
    help="Seconds per 90° of turn.",
)
@click.option(
    "--battery-minutes",
    type=POSITIVE,
    default=25.0,
    show_default=True,
    help="Flight time of a full battery, minutes.",
)
@click.option(
    "--battery-reserve",
    type=PERCENT,
    default=20.0,
    show_default=True,
    help="Battery kept in reserve, %.",
)
@click.option("--max-distance", type=POSITIVE, help="Farthest a sortie may go from home, metres.")
@click.option(
    "--min-photo-interval",
    type=NON_NEGATIVE,
    default=1.0,
    show_default=True,
    help="Shortest time the camera needs between photos, seconds; faster plans are refused.",
)
@click.option(
    "--lead-in",
    type=NON_NEGATIVE,
    default=DEFAULT_LEAD_IN_M,
    show_default=True,
    help=(
        "Metres flown on each strip's line, camera off, before its first photo, so the turn "
        "into the strip is done when it starts (0: none; the coverage report then counts the "
        "first photo as still turned)."
    ),
)
@click.option(
    "--corridor-width",
    type=POSITIVE,
    help="Treat line features as corridor centre lines of this width, metres.",
)
@click.option(
    "--out",
    "outputs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file: .plan, .waypoints, .kml or .geojson (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def plan_command(
    grids: Path,
    nofly: Path | None,
    home: str | None,
    camera: str,
    profile: str,
    altitude: float | None,
    gsd: float | None,
    front_overlap: float | None,
    side_overlap: float | None,
    speed: float,
    turn_seconds: float,
    battery_minutes: float,
    battery_reserve: float,
    max_distance: float | None,
    min_photo_interval: float,
    lead_in: float,
    corridor_width: float | None,
    outputs: Sequence[Path],
    as_json: bool,
) -> None:
    """Plan survey flights over the grids in GRIDS (GeoJSON, KML/KMZ or Shapefile).

    Features of kind no_fly_zone in GRIDS are no-fly zones, avoided with any --nofly zones.

    Give the flying height as exactly one of --altitude and --gsd.
    """
    from missions.planner import PlanSettings, plan
    from missions.planner.settings import SettingError

    if (altitude is None) == (gsd is None):
        raise click.UsageError("give exactly one of --altitude and --gsd")
    outputs = list(dict.fromkeys(outputs))  # the same --out twice is one file
    inputs = {"grid file": grids, "--nofly file": nofly}
    for out in outputs:
        _check_output(out)
        _check_not_an_input(out, inputs)
    try:
        settings = PlanSettings.for_profile(
            profile,
            camera=_camera(camera),
            altitude_m=altitude,
            gsd_m=None if gsd is None else gsd / 100.0,
            front_overlap=_percent(front_overlap),
            side_overlap=_percent(side_overlap),
            speed_mps=speed,
            turn_seconds_per_90=turn_seconds,
            battery_minutes=battery_minutes,
            battery_reserve=battery_reserve / 100.0,
            max_distance_m=max_distance,
            corridor_width_m=corridor_width,
            min_photo_interval_s=min_photo_interval,
            lead_in_m=lead_in,
        )
    except SettingError as exc:  # named as the option the pilot typed
        raise SettingError(exc.setting, exc.named(OPTIONS.get(exc.setting, exc.setting))) from None
    home_lonlat = parse_lat_lon(home) if home is not None else None
    areas, zones = _read_areas(grids, corridor_width)
    if nofly and not _same_file(nofly, grids):  # the grid file's own zones are read already
        zones += _read_no_fly(nofly)
    result = plan(areas, settings, no_fly=zones, home=home_lonlat)
    written = _write_outputs(result, outputs, inputs=inputs)
    summary = result.summary()
    summary["files"] = [str(p) for p in written]
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)
    warnings = altitude_warnings(summary) + coverage_warnings(summary) + no_fly_warnings(summary)
    if max_distance is None:  # with it the pilot chose the distance, knowing their fence
        warnings += fence_warnings(summary)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for stale in _stale_sorties(outputs, written):
        click.echo(f"warning: {stale} is left from an earlier plan; delete it", err=True)


#: The CLI option of each planner setting, for its messages.
OPTIONS = {
    "altitude_m": "--altitude",
    "gsd_m": "--gsd",
    "speed_mps": "--speed",
    "turn_seconds_per_90": "--turn-seconds",
    "battery_minutes": "--battery-minutes",
    "battery_reserve": "--battery-reserve",
    "max_distance_m": "--max-distance",
    "corridor_width_m": "--corridor-width",
    "min_photo_interval_s": "--min-photo-interval",
    "lead_in_m": "--lead-in",
}


def _camera(name: str):
    """A preset by name in any case (``Phantom4Pro``), else a camera JSON file: see
    :func:`gis.camera.load_camera`, which the web's plan page shares."""
    from gis.camera import load_camera

    return load_camera(name)


def _read_no_fly(path: Path) -> list:
    """The zones of ``--nofly``; says on stderr what the file held besides them, or that it is
    empty (the plan then avoids no zones)."""
    from gis.io import read_no_fly

    skipped: Counter[str] = Counter()
    zones = read_no_fly(path, skipped=skipped)
    if not zones:
        click.echo(
            f"warning: --nofly {path}: holds no features; planning without no-fly zones",
            err=True,
        )
    if skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        click.echo(
            f"warning: --nofly {path}: skipped {counted(skipped.total(), 'feature')} whose kind "
            f"is not no_fly_zone ({kinds})",
            err=True,
        )
    return zones


def altitude_warnings(summary: dict) -> list[str]:
    """A line when the plan flies higher than light UAVs may in China without approval."""
    from missions.planner.settings import LEGAL_MAX_ALTITUDE_M

    altitude = summary["settings"]["altitude_m"]
    if altitude <= LEGAL_MAX_ALTITUDE_M:
        return []
    return [
        f"the plan flies at {altitude:g} m above ground, above the {LEGAL_MAX_ALTITUDE_M:g} m "
        "limit for light UAVs in China without special approval; a vehicle with an altitude "
        "fence will refuse it"
    ]


def coverage_warnings(summary: dict) -> list[str]:
    """One line per grid photographed at least once on less than 99.5 % of its flyable area."""
    from missions.planner.result import MIN_COVERAGE_ONCE_PCT, low_coverage, shown_pct

    hint = ""
    if not summary["settings"].get("lead_in_m"):
        hint = (
            "; without a lead-in each strip's first photo is taken while the vehicle still "
            f"turns: try --lead-in {SUGGESTED_LEAD_IN_M:g}"
        )
    return [
        f"grid {g['grid_id']}: only {shown_pct(g['coverage_once_pct'])} % of its flyable area is "
        f"photographed at least once (below {MIN_COVERAGE_ONCE_PCT:g} %); check the plan "
        f"before flying it{hint}"
        for g in low_coverage(summary)
    ]


def no_fly_warnings(summary: dict) -> list[str]:
    """One line per grid that no-fly zones (and their margin) cut: how much is left out."""
    margin = summary["settings"].get("nofly_margin_m")
    within = f" or within {margin:g} m of them" if margin else ""
    return [
        f"grid {g['grid_id']}: {g['no_fly_excluded_m2']:,.0f} m² "
        f"({_share(g['no_fly_excluded_pct'])} %) of its {g['grid_area_m2']:,.0f} m² lies in no-fly "
        f"zones{within} and is not planned; coverage is of the {g['area_m2']:,.0f} m² left"
        for g in summary["grids"]
        if g["no_fly_excluded_m2"] >= 1
    ]


def fence_warnings(summary: dict, *, radius_m: float | None = None) -> list[str]:
    """A warning when sorties go farther from home than a vehicle's default circular fence
    (:data:`DEFAULT_FENCE_RADIUS_M` unless ``radius_m``): `fly` and the vehicle refuse such a
    mission while FENCE_RADIUS is left at its default."""
    radius = DEFAULT_FENCE_RADIUS_M if radius_m is None else radius_m
    far = [o for o in summary["sorties"] if o["farthest_m"] > radius]
    if not far:
        return []
    names = ", ".join(o["sortie"] for o in far)
    farthest = max(o["farthest_m"] for o in far)
    return [
        f"{counted(len(far), 'sortie')} ({names}) go up to {farthest:,.0f} m from home, beyond "
        f"the default circular fence of {radius:,.0f} m (FENCE_RADIUS of gridpatrol sitl; "
        f"ArduCopter's own default is {ARDUCOPTER_FENCE_RADIUS_M:.0f} m): raise FENCE_RADIUS "
        "on the vehicle, move --home, or split the sorties with --max-distance"
    ]


def _share(pct: float) -> str:
    """A percentage to one decimal, a sliver as "<0.1" rather than a misleading "0.0"."""
    return "<0.1" if 0 < pct < 0.05 else f"{pct:.1f}"


def _stale_sorties(outputs: Sequence[Path], written: Sequence[Path]) -> list[Path]:
    """Sortie files (NAME-sK.EXT) beside the outputs that this run did not write."""
    fresh = set(written)
    stale: list[Path] = []
    for out in outputs:
        pattern = re.compile(rf"{re.escape(out.stem)}-s\d+{re.escape(out.suffix)}")
        siblings = out.parent.glob(f"{glob.escape(out.stem)}-s*{glob.escape(out.suffix)}")
        stale += sorted(p for p in siblings if pattern.fullmatch(p.name) and p not in fresh)
    return stale


def _read_areas(path: Path, corridor_width: float | None) -> tuple[list, list]:
    """Every grid of the file (polygons as areas and line features as corridor centre lines)
    and the no-fly zones it holds (features of kind ``no_fly_zone``), which the plan avoids
    as --nofly zones are: never left out of the plan while its route crosses them.

    A line without ``--corridor-width`` is refused, naming it, rather than left out of the plan.
    """
    from shapely.geometry import LineString

    from gis.io import NO_FLY_KIND, read_grids, read_no_fly
    from missions.errors import PlanningError

    left_out: Counter[str] = Counter()
    grids = read_grids(path, lines=True, left_out=left_out, check_ids=True)
    zones = []
    if left_out.pop(NO_FLY_KIND, 0):
        zones = read_no_fly(path)
        click.echo(
            f"using {counted(len(zones), 'no-fly zone')} from {path.name}",
            err=True,
        )
    warn_left_out(path, left_out)  # markers (labels, photo points) are no grids
    lines = [g.grid_id for g in grids if isinstance(g.geometry, LineString)]
    if lines and corridor_width is None:
        if len(lines) == 1:
            raise PlanningError(
                f"grid {lines[0]} in {path}: a line needs --corridor-width to be planned as a "
                "corridor"
            )
        raise PlanningError(
            f"grids {', '.join(lines)} in {path}: lines need --corridor-width to be planned as "
            "corridors"
        )
    return grids, zones


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (``--nofly`` given the grid file itself)."""
    with contextlib.suppress(OSError):
        return a.samefile(b)
    return False


def _check_output(out: Path) -> None:
    """Refuse an --out path that cannot be written before spending time on planning."""
    if out.suffix.lower() not in MISSION_SUFFIXES:
        raise click.BadParameter(
            f"{out}: unknown format; use one of {', '.join(MISSION_SUFFIXES)}",
            param_hint="--out",
        )
    check_folder(out.parent, option="--out", what=str(out))


def _check_not_an_input(out: Path, inputs: dict[str, Path | None]) -> None:
    """Refuse an output file that is one of the input files (same file once resolved): the plan
    would overwrite the grids or no-fly zones it was made from."""
    from missions.errors import PlanFileError

    target = out.resolve()
    for what, path in inputs.items():
        if path is not None and (path.resolve() == target or _same_file(path, out)):
            raise PlanFileError(
                f"--out {out} is the {what} {path}: writing the plan there would overwrite "
                "its input; choose another --out file"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): not the same file
        return False


def _write_outputs(
    result, outputs: Sequence[Path], *, inputs: dict[str, Path | None] | None = None
) -> list[Path]:
    """Write every file, or none: each is staged beside its target and renamed at the end.

    No file is written when any target (a sortie's NAME-sK.EXT too) is one of ``inputs``."""
    from missions.build import build_missions

    missions = build_missions(result)
    extra = []
    for grid in result.grids:
        for k, cell in enumerate(grid.cells):
            extra.append((cell, {"grid_id": grid.grid_id, "kind": "cell", "cell": k + 1}))
    targets: dict[Path, object] = {}
    for out in outputs:
        if len(missions) > 1:  # NAME.EXT holds the first sortie, NAME-sK.EXT each one
            targets.setdefault(out, missions[0])
        for path, mission in zip(sortie_paths(out, len(missions)), missions, strict=True):
            targets.setdefault(path, mission)
    for path in targets:
        _check_not_an_input(path, inputs or {})
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for path, mission in targets.items():
            created += _make_folder(path)
            staged.append((_stage(path, mission, extra), path))
        for temporary, path in staged:
            try:
                os.replace(temporary, path)
            except OSError as exc:
                raise _file_error(path, exc) from None
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return list(targets)


def _make_folder(path: Path) -> list[Path]:
    """Create the folders ``path`` needs; returns those created, outermost first."""
    missing = [folder for folder in path.parents if not folder.exists()][::-1]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _file_error(path, exc) from None
    return missing


def _stage(path: Path, mission, extra) -> Path:
    """Write ``mission`` to a hidden file beside ``path`` (same suffix, so the same format)."""
    from missions.errors import PlanFileError
    from missions.formats import save_mission

    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        save_mission(temporary, mission, extra=extra)
    except PlanFileError as exc:
        temporary.unlink(missing_ok=True)
        raise PlanFileError(str(exc).replace(str(temporary), str(path))) from None
    return temporary


def _file_error(path: Path, exc: OSError) -> Exception:
    from missions.errors import PlanFileError

    return PlanFileError(f"{path}: cannot be written: {exc.strerror or exc}")


def _print_summary(summary: dict) -> None:
    # Wide enough for the tables when output goes to a file or a pipe.
    console = Console(width=None if sys.stdout.isatty() else 140)
    s = summary["settings"]
    across, along = s["footprint_m"]
    console.print(
        f"[bold]{s['profile']}[/bold] · {s['camera']} at {s['altitude_m']} m"
        f" · GSD {s['gsd_cm']} cm/px · footprint {across}×{along} m"
        f" · spacing {s['line_spacing_m']} m · trigger {s['trigger_distance_m']} m"
        f" · overlap {s['front_overlap_pct']}/{s['side_overlap_pct']} %"
    )
    grids = Table(title="Grids (covered %: of the flyable area, the grid less no-fly zones)")
    for col in (
        "grid",
        "grid m²",
        "no-fly m² (%)",
        "flyable m²",
        "cells",
        "route m",
        "time",
        "photos",
        "covered %",
        "at design overlap %",
        "outside m",
        "sorties",
    ):
        grids.add_column(col, justify="left" if col in ("grid", "sorties") else "right")
    for g in summary["grids"]:
        grids.add_row(
            g["grid_id"],
            f"{g['grid_area_m2']:,.0f}",
            f"{g['no_fly_excluded_m2']:,.0f} ({_share(g['no_fly_excluded_pct'])} %)",
            f"{g['area_m2']:,.0f}",
            str(g["cells"]),
            f"{g['route_length_m']:,.0f}",
            _minutes(g["flight_time_s"]),
            str(g["photos"]),
            f"{g['coverage_once_pct']:.2f}",
            f"{g['coverage_design_pct']:.2f}",
            f"{g['outside_m']:,.0f}",
            ",".join(g["sorties"]),
        )
    console.print(grids)
    sorties = Table(title="Sorties")
    for col in ("sortie", "grids", "route m", "time", "photos", "waypoints", "farthest m"):
        sorties.add_column(col, justify="left" if col in ("sortie", "grids") else "right")
    for o in summary["sorties"]:
        sorties.add_row(
            o["sortie"],
            ",".join(o["grid_ids"]),
            f"{o['route_length_m']:,.0f}",
            _minutes(o["flight_time_s"]),
            str(o["photos"]),
            str(o["waypoints"]),
            f"{o['farthest_m']:,.0f}",
        )
    console.print(sorties)
    t = summary["totals"]
    console.print(
        f"{counted(t['grids'], 'grid')}, {counted(t['sorties'], 'sortie')}, "
        f"{t['route_length_m'] / 1000:.2f} km, {_minutes(t['flight_time_s'])}, "
        f"{counted(t['photos'], 'photo')}"
    )
    for path in summary["files"]:
        console.print(f"wrote {path}")


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"
