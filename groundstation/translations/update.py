"""Maintainers' helper: re-extract messages and compile the catalogues (``python -m ...update``).

The compiled ``.mo`` files are committed, so a clean clone works after ``pip install -e .``;
``tests/groundstation/test_ui.py`` fails when the ``.mo`` does not match its ``.po``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main() -> None:
    pot = HERE / "messages.pot"
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *pybabel,
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "lazy_ngettext:1,2",  # flask_babel's plurals, rendered for each reader
            "-k",
            "msg",  # gis.messages.msg: messages of gis and missions errors
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    subprocess.run(
        [*pybabel, "update", "-i", str(pot), "-d", str(HERE), "--no-fuzzy-matching"], check=True
    )
    subprocess.run([*pybabel, "compile", "-d", str(HERE), "--statistics"], check=True)


if __name__ == "__main__":
    main()
