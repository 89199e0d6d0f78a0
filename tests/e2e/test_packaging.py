"""The wheel a user installs, built from the repository as pip builds it: native core and all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: What ``pip wheel .`` reads: the Dockerfile copies the same into its wheel stage.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "native", "schemas", "choreo")
BUILD_MINUTES = 10


def test_the_wheel_holds_the_native_core_and_the_schemas(tmp_path: Path) -> None:
    """``pip wheel`` on a copy of the sources gives one platform wheel holding
    ``choreo._native``, every schema under ``choreo/_schemas``, and nothing outside ``choreo``."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = REPO_ROOT / name
        if origin.is_dir():
            ignored = shutil.ignore_patterns("target", "__pycache__", "_native*.so")
            shutil.copytree(origin, source / name, ignore=ignored)
        else:
            shutil.copy2(origin, source / name)
    environment = dict(os.environ)
    # cargo's own output from the editable install is reused, so only the wheel is new.
    environment.setdefault("CARGO_TARGET_DIR", str(REPO_ROOT / "native" / "target"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            ".",
        ],
        cwd=source,
        env=environment,
        check=True,
        timeout=BUILD_MINUTES * 60,
    )
    [wheel] = wheels.glob("choreo-*.whl")
    assert not wheel.name.endswith("-none-any.whl"), "a wheel with a native core is not pure"
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.startswith("choreo/_native.") and n.endswith(".so")]
    schemas = sorted(p.name for p in (REPO_ROOT / "schemas").glob("*.avsc"))
    assert schemas
    assert sorted(n.removeprefix("choreo/_schemas/") for n in names if "_schemas/" in n) == schemas
    outside = {n.split("/")[0] for n in names} - {"choreo"}
    assert len(outside) == 1
    assert outside.pop().endswith(".dist-info")
