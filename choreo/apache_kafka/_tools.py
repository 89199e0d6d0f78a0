"""Finding and running ``java`` and ``mvn``, with an error that says what to install.

Both are outside Python's reach, so a missing one must be named in the message, with the package
that provides it, rather than surface as a ``FileNotFoundError`` from ``subprocess``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from choreo.errors import EmbeddedBrokerError

JAVA_HINT = "install a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
MAVEN_HINT = "install Maven (Debian/Ubuntu: apt-get install maven); it is needed once, to fetch"
#: How many lines of a tool's output an error message quotes.
TAIL_LINES = 40


class ApacheKafkaError(EmbeddedBrokerError):
    """Apache Kafka could not be fetched, formatted or started (exit code 3, like the embedded)."""


def find_tool(name: str) -> str:
    """The path of ``java`` (also looked for in ``$JAVA_HOME/bin``) or ``mvn``.

    Raises:
        ApacheKafkaError: it is not installed; the message says how to install it.
    """
    found = shutil.which(name)
    java_home = os.environ.get("JAVA_HOME")
    if found is None and name == "java" and java_home:
        candidate = Path(java_home) / "bin" / "java"
        found = str(candidate) if candidate.is_file() else None
    if found is None:
        hint = JAVA_HINT if name == "java" else MAVEN_HINT
        raise ApacheKafkaError(f"Apache Kafka needs '{name}', which is not on PATH: {hint}")
    return found


def run_tool(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to completion with stdout and stderr merged into ``stdout``.

    Raises:
        ApacheKafkaError: it did not finish within ``timeout`` seconds.
    """
    try:
        return subprocess.run(  # noqa: S603 - a tool found on PATH, argument list
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ApacheKafkaError(
            f"{Path(command[0]).name} did not finish within {timeout:g}s: {' '.join(command)}"
        ) from exc


def last_lines(text: str, lines: int = TAIL_LINES) -> str:
    """The end of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
