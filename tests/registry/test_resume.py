"""`Resumer` takes its delays from the package's one retry policy (no daemon needed)."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from mountcomm import log as mlog
from mountcomm.exceptions import SelfConnectionError
from mountcomm.registry.resume import RECONNECT_POLICY, STABLE_AFTER, Resumer

from ..timing import T


def lost_after(resumer: Resumer, lived: float) -> None:
    """Report the loss of a connection that lived ``lived`` seconds."""
    opened_at = asyncio.get_running_loop().time() - lived
    resumer.connection_lost(SimpleNamespace(opened_at=opened_at))  # type: ignore[arg-type]


async def test_a_young_connection_keeps_the_backoff_a_stable_one_resets_it() -> None:
    resumer = Resumer(mlog.get_logger(None, "test"))
    assert resumer.delays.stable_time == STABLE_AFTER == RECONNECT_POLICY.stable_time
    lost_after(resumer, STABLE_AFTER + 1)
    assert not resumer.delays.owed(Resumer.ADDRESS)  # the first attempt is made at once
    lost_after(resumer, 0.0)  # accepted and closed at once
    first = resumer.delays.next_delay(Resumer.ADDRESS)
    second = resumer.delays.next_delay(Resumer.ADDRESS)
    assert 0.0375 <= first <= 0.05 and 0.075 <= second <= 0.1
    resumer.delays.connected()
    lost_after(resumer, 0.0)
    assert 0.15 <= resumer.delays.next_delay(Resumer.ADDRESS) <= 0.2  # went on, not afresh


async def test_connect_retries_failures_and_logs_self_connections_by_the_policy() -> None:
    resumer = Resumer(mlog.get_logger(None, "test"))
    lost_after(resumer, STABLE_AFTER)
    failures: list[BaseException] = [
        SelfConnectionError("reached itself"),
        ConnectionRefusedError(),
        SelfConnectionError("reached itself"),
    ]
    calls = itertools.count(1)
    connection: Any = object()

    async def attempt() -> Any:
        next(calls)
        if failures:
            raise failures.pop(0)
        return connection

    assert await asyncio.wait_for(resumer.connect(attempt), T) is connection
    assert resumer.attempts == next(calls) - 1 == 4
    assert resumer.self_connected.count == 2
    assert not resumer.delays.owed(Resumer.ADDRESS)  # connected: nothing owed


@pytest.mark.parametrize("lived", [0.0, STABLE_AFTER - 0.01])
async def test_a_connection_younger_than_the_stable_time_owes_a_delay(lived: float) -> None:
    resumer = Resumer(mlog.get_logger(None, "test"))
    lost_after(resumer, lived)
    assert resumer.delays.owed(Resumer.ADDRESS)
