"""Reconnection that never stops for good, paced by the retry policy (real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mountcomm import ClientServerPair, OneClientServer
from mountcomm.net.client_state import ConnectorState
from mountcomm.net.streams import open_link
from mountcomm.registry import RegistryHarness

from .helpers import LOCAL_HOST, STD_TIMEOUT, StateWatcher

RETRY = 0.05
"""Retry interval of the pairs under test [s]."""
WINDOW = 0.5
"""Observation window for counting reconnections [s]."""


class ClosingPeer:
    """A listener that accepts each connection and closes it at once (a dying process)."""

    def __init__(self) -> None:
        self.accepted = 0
        self._changed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._changed.set()
        writer.close()
        await writer.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def wait_accepted(self, count: int) -> None:
        async with asyncio.timeout(STD_TIMEOUT):
            while self.accepted < count:
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def closing_peer() -> AsyncIterator[ClosingPeer]:
    peer = ClosingPeer()
    peer.server = await asyncio.start_server(peer._handle, LOCAL_HOST, 0)
    async with peer.server:
        yield peer


async def count_in_window(peer: ClosingPeer) -> int:
    """Connections the peer accepts during `WINDOW` (a measurement, not sequencing)."""
    before = peer.accepted
    await asyncio.sleep(WINDOW)
    return peer.accepted - before


MAX_IN_WINDOW = WINDOW / RETRY + 3
"""At most one attempt per retry interval, plus slack for the window's edges."""


def make_pair(name: str, watcher: StateWatcher, **kwargs: Any) -> ClientServerPair:
    pair = ClientServerPair(
        name, LOCAL_HOST, 0, LOCAL_HOST, 0, None, connect=False, connect_callback=watcher, **kwargs
    )
    pair.connect_retry_interval = RETRY
    return pair


async def test_service_peer_that_closes_at_once_is_retried_then_found(
    port_registry: RegistryHarness,
) -> None:
    """The connection dies before the pair adopts it: it must retry, paced, until a real peer."""
    registry = port_registry.client
    owner = await port_registry.new_client()
    watcher = StateWatcher()
    good = OneClientServer("good", LOCAL_HOST, 0, None)
    a = make_pair("a", watcher, registry=registry, client_service="svc", auto_reconnect=True)
    try:
        await asyncio.wait_for(good.start_task, STD_TIMEOUT)
        await asyncio.wait_for(owner.register("svc", good.port), STD_TIMEOUT)
        await asyncio.wait_for(a.connect_client(), STD_TIMEOUT)
        async with closing_peer() as bad:
            # The good peer dies; a dying process on another port is advertised instead.
            await asyncio.wait_for(owner.release(good.port), STD_TIMEOUT)
            await asyncio.wait_for(owner.register("svc", bad.port), STD_TIMEOUT)
            await good.close_client()
            await bad.wait_accepted(3)  # it keeps trying: the old code stopped after one
            assert not a.client_connected
            assert a.client_state is ConnectorState.RECONNECTING
            assert await count_in_window(bad) <= MAX_IN_WINDOW
            # A live peer comes back: the reconnection finds it.
            await asyncio.wait_for(owner.release(bad.port), STD_TIMEOUT)
            await asyncio.wait_for(owner.register("svc", good.port), STD_TIMEOUT)
            await watcher.wait_for(lambda: a.client_connected)
        assert a.client_port == good.port
    finally:
        await a.close()
        await good.close()


async def test_explicit_connect_to_a_service_that_closes_at_once_keeps_trying(
    port_registry: RegistryHarness,
) -> None:
    """connect_client() must not report a connection that was already dead."""
    owner = await port_registry.new_client()
    watcher = StateWatcher()
    a = make_pair("a", watcher, registry=port_registry.client, client_service="svc")
    try:
        async with closing_peer() as bad:
            await asyncio.wait_for(owner.register("svc", bad.port), STD_TIMEOUT)
            connecting = asyncio.create_task(a.connect_client())
            await bad.wait_accepted(3)
            assert not connecting.done() and a.client_state is ConnectorState.CONNECTING
            await a.close()
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(connecting, STD_TIMEOUT)
        assert watcher.calls == []  # never reported connected
    finally:
        await a.close()


async def test_port_peer_that_closes_at_once_gets_paced_reconnects() -> None:
    watcher = StateWatcher()
    async with closing_peer() as bad:
        a = make_pair("a", watcher, auto_reconnect=True)
        try:
            a.client_port = bad.port
            connecting = asyncio.create_task(a.connect_client())
            await bad.wait_accepted(3)
            assert await count_in_window(bad) <= MAX_IN_WINDOW
            assert not a.client_connected
        finally:
            await a.close()
        # Each connection is up for an instant (connect_client may have returned).
        await asyncio.wait_for(asyncio.gather(connecting, return_exceptions=True), STD_TIMEOUT)


@pytest.mark.parametrize("stable", [True, False])
async def test_only_a_connection_that_lived_long_enough_resets_the_delays(stable: bool) -> None:
    """Reconnecting after a stable connection is immediate; after a short one it owes a delay."""
    watcher = StateWatcher()
    server = OneClientServer("server", LOCAL_HOST, 0, None)
    a = make_pair("a", watcher, auto_reconnect=True, stable_connection_time=0 if stable else 60)
    a.connect_retry_interval = 1000.0  # a delay no test could wait for
    try:
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        a.client_port = server.port
        await asyncio.wait_for(a.connect_client(), STD_TIMEOUT)
        await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
        await server.close_client()
        await watcher.wait_for(lambda: not a.client_connected)
        if stable:
            await watcher.wait_for(lambda: a.client_connected)
        else:
            assert a.connector.retry_delays.owed(server.port)
            assert a.client_state is ConnectorState.RECONNECTING
    finally:
        await a.close()
        await server.close()


async def test_a_link_lost_before_adoption_is_refused_by_adopt() -> None:
    """Loss is a state of the link: adopting a dead link fails instead of waiting forever."""
    called: list[object] = []
    async with closing_peer() as bad:
        link = await open_link(LOCAL_HOST, bad.port)
        await asyncio.wait_for(asyncio.shield(link.lost), STD_TIMEOUT)  # EOF, nobody adopted it
        assert not link.adopt(called.append)
        await link.wait_closed()
        live = OneClientServer("live", LOCAL_HOST, 0, None)
        try:
            await asyncio.wait_for(live.start_task, STD_TIMEOUT)
            link = await open_link(LOCAL_HOST, live.port)
            assert link.adopt(called.append)
            await asyncio.wait_for(live.wait_connected(), STD_TIMEOUT)
            await live.close_client()
            await asyncio.wait_for(asyncio.shield(link.lost), STD_TIMEOUT)
            assert called == [link]  # the handler saw the loss exactly once
            await link.wait_closed()
        finally:
            await live.close()
