"""Shared test settings."""

from __future__ import annotations

import asyncio
import inspect
import os

import pytest
from hypothesis import HealthCheck, settings

from tests.timing import UNIT

TEST_LIMIT = 60 * UNIT
"""pytest-timeout's limit on one test, fixtures included [s]."""

pytest_plugins = ["pytester", "tests.as_nobody"]

# Property tests assert what a function returns, never how fast: on a shared,
# loaded machine (two xdist workers on two cores) an example or its data
# generation can take longer than Hypothesis's wall-clock checks allow, which
# failed tests that were right. Hangs stay bounded by pytest-timeout.
settings.register_profile("mountcomm", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mountcomm")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Give pytest-timeout its limit in test units, unless the command line or
    ``PYTEST_TIMEOUT`` names one (pytest-timeout reads it in its own configure)."""
    if config.getoption("timeout", None) is None and "PYTEST_TIMEOUT" not in os.environ:
        config.option.timeout = TEST_LIMIT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Check every coroutine test for leaked tasks (pure tests get no event loop)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            item.fixturenames.insert(0, "no_leaked_tasks")  # type: ignore[attr-defined]


@pytest.fixture
async def no_leaked_tasks():
    """Fail a test that leaves tasks running on its event loop."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    # Give tasks that are finishing their last step one loop iteration.
    if leaked:
        await asyncio.sleep(0)
        leaked = [t for t in leaked if not t.done()]
    for task in leaked:
        task.cancel()
    assert not leaked, f"tasks left running: {leaked}"
