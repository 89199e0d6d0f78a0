"""Exit codes and the one place that turns choreo's errors into them.

Results go to stdout, messages to stderr; a known error is one line on stderr and its code,
an unexpected exception keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import IntEnum
from typing import NoReturn, TypeVar

from choreo.errors import (
    ChoreoError,
    ConfigError,
    EmbeddedBrokerError,
    InvalidInputError,
    UnreachableError,
)

T = TypeVar("T")


class ExitCode(IntEnum):
    """Documented exit codes of the ``choreo`` command."""

    OK = 0
    PROBLEM = 1
    USAGE = 2
    CONFIG = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


def exit_code_for(error: ChoreoError) -> ExitCode:
    """Which exit code a choreo error maps to."""
    if isinstance(error, InvalidInputError):
        return ExitCode.USAGE
    if isinstance(error, ConfigError | EmbeddedBrokerError):
        return ExitCode.CONFIG
    if isinstance(error, UnreachableError):
        return ExitCode.UNREACHABLE
    return ExitCode.PROBLEM


def fail(message: str, code: ExitCode) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    print(f"error: {message}", file=sys.stderr)  # noqa: T201 - the CLI's own channel
    raise SystemExit(int(code))


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``, turning choreo errors and Ctrl-C into a message and an exit code."""
    try:
        return action()
    except ChoreoError as exc:
        fail(str(exc), exit_code_for(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
