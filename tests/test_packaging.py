"""A real (non-editable) wheel of sanad holds its data files and builds without setuptools'
warnings: an editable install, as the tests run, would read the files from the checkout and hide
a file left out of the package data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_data_file_and_builds_quietly(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = tmp_path / "sanad"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__")
    )
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("sanad-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [
        p.relative_to(ROOT).as_posix()
        for package in ("index", "qa", "ui")
        for p in (ROOT / package).glob("data/*")
        if p.is_file()
    ]
    # Not named one by one: what the data folders hold changes with the answer logic.
    assert {name.split("/")[0] for name in data} == {"index", "qa"}
    assert [name for name in data if name not in names] == []
    # setuptools' warnings ("... as data is deprecated", "Package ... is absent from the
    # `packages` configuration") come framed in "!!" lines.
    output = build.stdout + build.stderr
    assert "!!" not in output and "Warning:" not in output, output[-3000:]
