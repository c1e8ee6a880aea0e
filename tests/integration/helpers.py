"""Helpers of the integration tests (registry-driven discovery)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from mountcomm import PortRegistry
from tests.timing import UNIT

T = 5 * UNIT
"""The one timeout unit of these tests [s]: every await on a peer is bounded by it."""


class _ObservedWatch:
    """A `PortWatch` that sets an event once the daemon has started it."""

    def __init__(self, inner: Any, started: asyncio.Event) -> None:
        self._inner = inner
        self._started = started

    async def __aenter__(self) -> Any:
        events = await self._inner.__aenter__()
        self._started.set()
        return events

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)


class ObservedRegistry:
    """A `PortRegistry` stand-in that tells when a watch has started.

    Lets a test wait, without sleeping, until a pair is waiting for a service.
    """

    def __init__(self, registry: PortRegistry) -> None:
        self.registry = registry
        self.host = registry.host
        self.unix_socket = registry.unix_socket
        self.watch_started = asyncio.Event()
        self.watches = 0

    @property
    def connected(self) -> bool:
        return self.registry.connected

    async def register(self, service: str, port: int) -> Any:
        return await self.registry.register(service, port)

    async def release(self, port: int) -> None:
        await self.registry.release(port)

    def watch(self, service: str | None = None) -> _ObservedWatch:
        self.watches += 1
        return _ObservedWatch(self.registry.watch(service=service), self.watch_started)

    async def wait_watching(self) -> None:
        """Wait until a watch has started, then reset for the next one."""
        await asyncio.wait_for(self.watch_started.wait(), T)
        self.watch_started.clear()
