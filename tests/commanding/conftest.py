"""Fixtures for the commanding tests."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.timing import UNIT as TEST_UNIT

# The commanding tests time short protocol timeouts (ACK, DONE margin) in this fraction
# of the suite's unit (tests/timing.py), so it scales with MOUNTCOMM_TEST_TIMEOUT_FACTOR.
UNIT = TEST_UNIT / 20


@pytest.fixture
def unit() -> float:
    """The scalable time unit of the commanding tests [s]."""
    return UNIT


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail the test if the loop reports an error (e.g. "exception was never retrieved")."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    gc.collect()
    loop.set_exception_handler(previous)
    assert not errors, errors
