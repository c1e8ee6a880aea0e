"""How the tests run pytest (through ``pytester``) as a user's project would."""

from __future__ import annotations

from tests.timing import UNIT

STRICT_MODE_ARGS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",  # it imports hypothesis anew in each run: seconds
    "-W",
    "error",
    "-o",
    "asyncio_mode=strict",
    "-o",
    f"timeout={20 * UNIT}",
)
"""pytest-asyncio's default (strict) mode, warnings as errors, and a timeout so
that a hang fails instead of stalling the suite."""
