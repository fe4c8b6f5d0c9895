"""The layering in DEVELOPERS.md: imports point down the table only; heavy libraries stay put."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "missions", "simulator", "vision", "groundstation")

#: Which of our packages each package may import.
ALLOWED_OURS = {
    "gis": set(),
    "missions": {"gis"},
    "simulator": {"gis"},
    "vision": {"gis"},
    "groundstation": set(PACKAGES),
}

#: Third-party libraries confined to some packages.
CONFINED = {
    "flask": {"groundstation"},
    "flask_babel": {"groundstation"},
    "flask_login": {"groundstation"},
    "flask_wtf": {"groundstation"},
    "torch": {"vision", "groundstation"},
    "torchvision": {"vision", "groundstation"},
}


def _imported_top_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_packages_below_it(package: str) -> None:
    offenders = []
    for path in _sources(package):
        ours = _imported_top_names(path) & set(PACKAGES) - {package}
        for name in sorted(ours - ALLOWED_OURS[package]):
            offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("package", PACKAGES)
def test_heavy_libraries_stay_in_their_packages(package: str) -> None:
    offenders = []
    for path in _sources(package):
        for name in sorted(_imported_top_names(path) & set(CONFINED)):
            if package not in CONFINED[name]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_lower_packages_import_without_flask_or_torch() -> None:
    """Importing every module of gis, missions and simulator pulls in neither Flask nor torch."""
    script = """
import importlib, pkgutil, sys
for package in ("gis", "missions", "simulator"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
heavy = sorted(m for m in ("flask", "torch", "torchvision") if m in sys.modules)
print(",".join(heavy))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"heavy modules imported: {result.stdout.strip()}"


def test_every_package_has_one_error_root() -> None:
    import importlib

    roots = {
        "gis": "GisError",
        "missions": "MissionError",
        "simulator": "SimulatorError",
        "vision": "VisionError",
        "groundstation": "GroundStationError",
    }
    for package, root_name in roots.items():
        module = importlib.import_module(f"{package}.errors")
        root = getattr(module, root_name)
        assert root.__bases__ == (Exception,)
        for name in module.__all__:
            assert issubclass(getattr(module, name), root), f"{package}.errors.{name}"


def test_benchmark_scripts_do_not_shadow_a_package() -> None:
    """`make bench` runs ``python benchmarks/NAME.py``, which puts benchmarks/ first on the
    import path: a script named like one of our packages hides it (``benchmarks/vision.py``
    once made ``import vision.infer`` fail)."""
    ours = set(PACKAGES)
    imported = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        imported |= _imported_top_names(script)
    clashes = sorted(
        p.name for p in (ROOT / "benchmarks").glob("*.py") if p.stem in ours | imported
    )
    assert clashes == []
