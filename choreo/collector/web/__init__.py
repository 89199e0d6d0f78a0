"""The collector's web page: static files (HTML, CSS, plain JavaScript modules) with no build
step and no third-party assets, served by the collector itself next to its JSON API."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR: Path = Path(__file__).resolve().parent
"""The directory holding ``index.html`` and the files it loads."""

__all__ = ["STATIC_DIR"]
