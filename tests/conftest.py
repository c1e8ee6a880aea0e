"""Shared test settings."""

from __future__ import annotations

import asyncio

import pytest

STD_TIMEOUT = 5.0
"""Bound on any single wait for a peer in tests [s]."""


@pytest.fixture(autouse=True)
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
