"""`gridpatrol plan`: grid polygons -> survey routes -> plan files and a summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

__all__ = ["plan_command", "sortie_paths", "parse_lat_lon"]

MISSION_SUFFIXES = (".plan", ".waypoints", ".kml", ".geojson")


def parse_lat_lon(text: str, *, option: str = "--home") -> tuple[float, float]:
    """'LAT,LON' -> (lon, lat), checked as WGS84 degrees (gis.shapes catches swapped values)."""
    from shapely.geometry import Point

    from gis.shapes import check_lonlat

    parts = [p.strip() for p in text.split(",")]
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise click.BadParameter(
            f"expected LAT,LON in degrees, got {text!r}", param_hint=option
        ) from None
    check_lonlat(Point(lon, lat), name=f"{option} {text}")
    return lon, lat


def sortie_paths(path: Path, sorties: int) -> list[Path]:
    """Files for several sorties: NAME-s1.EXT ... NAME-sN.EXT (NAME.EXT holds the first)."""
    if sorties <= 1:
        return [path]
    return [path.with_name(f"{path.stem}-s{i}{path.suffix}") for i in range(1, sorties + 1)]


def _percent(value: float | None) -> float | None:
    return None if value is None else value / 100.0


@click.command("plan")
@click.argument("grids", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--nofly", type=click.Path(dir_okay=False, path_type=Path), help="No-fly zones file.")
@click.option("--home", help="Take-off point LAT,LON (default: beside the first grid).")
@click.option(
    "--camera", default="phantom4pro", show_default=True, help="Preset name or JSON file."
)
@click.option(
    "--profile",
    type=click.Choice(["mapping", "patrol"]),
    default="mapping",
    show_default=True,
    help="mapping: 75/70 % overlap; patrol: every point seen once.",
)
@click.option("--altitude", type=float, help="Height above ground, metres (10-500).")
@click.option("--gsd", type=float, help="Target ground sampling distance, cm/px.")
@click.option("--front-overlap", type=float, help="Front overlap %, overrides the profile.")
@click.option("--side-overlap", type=float, help="Side overlap %, overrides the profile.")
@click.option("--speed", type=float, default=10.0, show_default=True, help="Cruise speed, m/s.")
@click.option(
    "--turn-seconds", type=float, default=3.0, show_default=True, help="Seconds per 90° of turn."
)
@click.option("--battery-minutes", type=float, default=25.0, show_default=True)
@click.option(
    "--battery-reserve",
    type=float,
    default=20.0,
    show_default=True,
    help="Battery kept in reserve, %.",
)
@click.option("--max-distance", type=float, help="Farthest a sortie may go from home, metres.")
@click.option(
    "--corridor-width",
    type=float,
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
    corridor_width: float | None,
    outputs: Sequence[Path],
    as_json: bool,
) -> None:
    """Plan survey flights over the grids in GRIDS (GeoJSON, KML/KMZ or Shapefile)."""
    from gis.camera import load_camera
    from gis.io import read_no_fly
    from missions.planner import PlanSettings, plan

    if (altitude is None) == (gsd is None):
        raise click.UsageError("give exactly one of --altitude and --gsd")
    for out in outputs:
        if out.suffix.lower() not in MISSION_SUFFIXES:
            raise click.BadParameter(
                f"{out}: unknown format; use one of {', '.join(MISSION_SUFFIXES)}",
                param_hint="--out",
            )
    settings = PlanSettings.for_profile(
        profile,
        camera=load_camera(camera),
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
    )
    areas = _read_areas(grids, corridor_width)
    zones = read_no_fly(nofly) if nofly else []
    home_lonlat = parse_lat_lon(home) if home else None
    result = plan(areas, settings, no_fly=zones, home=home_lonlat)
    written = _write_outputs(result, outputs)
    summary = result.summary()
    summary["files"] = [str(p) for p in written]
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)


def _read_areas(path: Path, corridor_width: float | None) -> list:
    """Grids, or with a corridor width, corridor centre lines as grids."""
    from gis.grids import Grid
    from gis.io import read_grids, read_lines

    if corridor_width is None:
        return read_grids(path)
    lines = read_lines(path)
    return [
        Grid(
            str(f.properties.get("grid_id") or f.properties.get("name") or i),
            f.geometry,
            dict(f.properties),
        )
        for i, f in enumerate(lines, 1)
    ]


def _write_outputs(result, outputs: Sequence[Path]) -> list[Path]:
    from missions.build import build_missions
    from missions.formats import save_mission

    missions = build_missions(result)
    extra = []
    for grid in result.grids:
        for k, cell in enumerate(grid.cells):
            extra.append((cell, {"grid_id": grid.grid_id, "kind": "cell", "cell": k + 1}))
    written: list[Path] = []
    for out in outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
        if len(missions) > 1:  # NAME.EXT holds the first sortie, NAME-sK.EXT each one
            written.append(save_mission(out, missions[0], extra=extra))
        for path, mission in zip(sortie_paths(out, len(missions)), missions, strict=True):
            written.append(save_mission(path, mission, extra=extra))
    return written


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
    grids = Table(title="Grids")
    for col in (
        "grid",
        "area m²",
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
    for col in ("sortie", "grids", "route m", "time", "photos", "waypoints"):
        sorties.add_column(col, justify="left" if col in ("sortie", "grids") else "right")
    for o in summary["sorties"]:
        sorties.add_row(
            o["sortie"],
            ",".join(o["grid_ids"]),
            f"{o['route_length_m']:,.0f}",
            _minutes(o["flight_time_s"]),
            str(o["photos"]),
            str(o["waypoints"]),
        )
    console.print(sorties)
    t = summary["totals"]
    console.print(
        f"{t['grids']} grids, {t['sorties']} sorties, {t['route_length_m'] / 1000:.2f} km, "
        f"{_minutes(t['flight_time_s'])}, {t['photos']} photos"
    )
    for path in summary["files"]:
        console.print(f"wrote {path}")


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"
