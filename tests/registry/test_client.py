"""The async client `PortRegistry` against a real daemon (and a few fake ones)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import mountcomm
from mountcomm.exceptions import (
    ConnectionClosedError,
    PortInUseError,
    RegistryError,
    RegistryPermissionError,
    RegistryRequestError,
)
from mountcomm.registry import PortEntry, PortEvent, PortRegistry
from mountcomm.registry.harness import RegistryHarness
from mountcomm.registry.native import PingReply
from mountcomm.registry.peer import current_user
from tests.ports import unused_ports

from .conftest import T

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def next_event(events: AsyncIterator[PortEvent]) -> PortEvent:
    return await asyncio.wait_for(events.__anext__(), T)


def test_top_level_names() -> None:
    assert mountcomm.PortRegistry is PortRegistry
    assert mountcomm.PortManager.__name__ == "PortManager"


async def test_requests(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    me = current_user()
    port = await client.get_port("pool_svc")
    entry = await client.register("svc", 5000)
    assert entry == PortEntry(5000, "svc", me)
    assert (await client.register("svc", 5001, user=me)).service == "svc_1"
    listed = await client.list_ports()
    assert [e.port for e in listed] == sorted([port, 5000, 5001])
    assert await client.find(service="svc") == [entry]
    assert [e.service for e in await client.find(beginswith="svc")] == ["svc", "svc_1"]
    assert len(await client.find(user=me)) == 3
    assert await client.find(user="nobody-at-all") == []
    await client.release(5001)
    assert [e.port for e in await client.find(beginswith="svc")] == [5000]


async def test_errors_map_to_exceptions(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    await client.register("svc", 5000)
    with pytest.raises(PortInUseError, match="already registered"):
        await client.register("other", 5000)
    with pytest.raises(RegistryRequestError, match="bad service name"):
        await client.get_port("has space")
    # a differing claimed user is recorded, never refused; the owner stays verified
    claimed = await client.allocate("svc", user="somebody-else")
    assert claimed.user == current_user() and claimed.service == "svc_1"
    other = await port_registry.new_client()
    with pytest.raises(RegistryPermissionError):
        await other.release(5000)


async def test_connects_on_first_use_and_close_is_idempotent(
    port_registry: RegistryHarness,
) -> None:
    client = PortRegistry(port_registry.host, port_registry.port, timeout=T)
    assert not client.connected
    assert (await client.ping()).user == current_user()
    assert client.connected
    async with port_registry.client.watch(initial=False) as events:
        await client.register("svc", 5000)
        assert (await next_event(events)).kind == "added"
        await client.close()
        await client.close()
        assert (await next_event(events)).kind == "removed"  # released with the connection
    assert not client.connected
    with pytest.raises(ConnectionClosedError):
        await client.ping()
    with pytest.raises(ConnectionClosedError):
        await client.connect()


async def test_watch_snapshot_then_live_events(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    peer = await port_registry.new_client()
    await peer.register("mount_a", 5000)
    await peer.register("other", 5001)
    async with client.watch(beginswith="mount") as events:
        assert events.entries == [PortEntry(5000, "mount_a", current_user())]
        first = await next_event(events)
        assert (first.kind, first.port, first.initial) == ("added", 5000, True)
        await peer.register("mount_b", 5002)
        await peer.register("not_mount", 5003)
        await peer.release(5000)
        got = [await next_event(events), await next_event(events)]
        assert [(e.kind, e.port, e.initial) for e in got] == [
            ("added", 5002, False),
            ("removed", 5000, False),
        ]
    # after aclose, iteration stops
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()


async def test_watch_without_initial_and_without_context(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    await client.register("svc", 5000)
    events = client.watch(service="svc", initial=False)
    iteration = asyncio.ensure_future(events.__anext__())  # starts the watch
    await asyncio.wait_for(events.start(), T)
    assert events.entries == [PortEntry(5000, "svc", current_user())]
    await client.release(5000)
    event = await asyncio.wait_for(iteration, T)
    assert (event.kind, event.port) == ("removed", 5000)
    await events.aclose()
    await events.aclose()


async def test_watch_close_is_aclose_and_a_failed_start_ends_it(
    port_registry: RegistryHarness,
) -> None:
    client = port_registry.client
    events = client.watch(service="svc")
    await asyncio.wait_for(events.start(), T)
    await events.close()
    await events.aclose()  # the same, and idempotent
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()
    await client.close()
    late = client.watch(service="svc")
    with pytest.raises(ConnectionClosedError):
        async with late:
            pass
    assert late.ended


async def test_two_watches_on_one_connection(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    async with client.watch(service="a") as wa, client.watch(service="b") as wb:
        await client.register("b", 5001)
        await client.register("a", 5000)
        assert (await next_event(wa)).port == 5000
        assert (await next_event(wb)).port == 5001


async def test_wait_for(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    peer = await port_registry.new_client()
    await peer.register("early", 5000)
    assert await client.wait_for("early", timeout=T) == 5000
    # whether the watch starts before or after the registration, the port comes back
    waiting = asyncio.create_task(client.wait_for("late", timeout=T))
    await peer.register("late", 5001)
    assert await asyncio.wait_for(waiting, T) == 5001
    with pytest.raises(TimeoutError, match=r"'never' was not advertised within 0\.05 s"):
        await client.wait_for("never", timeout=0.05)
    with pytest.raises(TimeoutError):
        await client.wait_for("early", timeout=0.05, user="somebody-else")


async def test_follow_a_peer_that_restarts_on_another_port(
    port_registry: RegistryHarness,
) -> None:
    """What the network layer does: follow the service, whatever its port."""
    follower = port_registry.client
    async with follower.watch(service="pxi") as events:
        for port in (5000, 5001):
            peer = await port_registry.new_client()
            await peer.register("pxi", port)
            added = await next_event(events)
            assert (added.kind, added.port) == ("added", port)
            await peer.close()  # the peer dies: its registration goes with it
            removed = await next_event(events)
            assert (removed.kind, removed.port) == ("removed", port)


async def test_connection_loss_fails_calls_and_watches(port_registry: RegistryHarness) -> None:
    client = await port_registry.new_client()
    events = client.watch()
    await events.start()
    await port_registry.client.terminate()
    with pytest.raises(ConnectionClosedError):
        await next_event(events)
    with pytest.raises(ConnectionClosedError):
        await next_event(events)  # and it stays ended
    await asyncio.wait_for(port_registry.server.wait_closed(), T)
    with pytest.raises(ConnectionClosedError):
        await client.ping()
    assert not client.connected


async def test_close_ends_pending_watch_iteration(port_registry: RegistryHarness) -> None:
    client = await port_registry.new_client()
    events = client.watch()
    iteration = asyncio.ensure_future(events.__anext__())
    await events.start()
    await client.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(iteration, T)


async def fake_registry(handler: Handler) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)


async def test_timeout_and_cancellation_are_safe() -> None:
    requests: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            await requests.put(request)
            if request["op"] == "ping":
                writer.write(b"not json\n")  # garbage is logged and skipped
                writer.write(json.dumps({"id": request["id"], "ok": True}).encode() + b"\n")
        writer.close()

    server = await fake_registry(handler)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with PortRegistry("127.0.0.1", port, timeout=0.1) as client:
            with pytest.raises(TimeoutError, match=r"did not answer 'list' within 0\.1 s"):
                await client.list_ports()
            call = asyncio.create_task(client.get_port("x"))
            await asyncio.wait_for(requests.get(), T)  # the list request
            assert (await asyncio.wait_for(requests.get(), T))["op"] == "allocate"
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert await client.ping() == PingReply()


async def test_refusal_without_a_known_code() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        reply = {"id": request["id"], "ok": False, "error": "new_kind", "message": "nope"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await reader.read()
        writer.close()

    server = await fake_registry(handler)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with PortRegistry("127.0.0.1", port, timeout=T) as client:
            with pytest.raises(RegistryError, match="nope") as info:
                await client.ping()
            assert type(info.value) is RegistryError


async def test_no_registry_raises_oserror() -> None:
    (port,) = unused_ports(1)
    client = PortRegistry("127.0.0.1", port, timeout=T)
    with pytest.raises(OSError):
        await client.connect()
    await client.close()


def wait_pid_exit(pid: int) -> None:
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], T)
        assert ready, f"process {pid} did not exit"
    finally:
        os.close(fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd needs Linux")
async def test_autostart_starts_a_detached_daemon() -> None:
    (port,) = unused_ports(1)
    async with PortRegistry("127.0.0.1", port, timeout=T, autostart=True) as client:
        info = await client.ping()
        assert info.pid is not None and info.pid != os.getpid()
        await client.register("svc", 5000)
        await client.terminate()
    await asyncio.to_thread(wait_pid_exit, info.pid)


async def test_a_watch_that_falls_behind_ends(port_registry: RegistryHarness) -> None:
    client = port_registry.client
    other = await port_registry.new_client()
    async with client.watch(initial=False, max_queue=2) as events:
        for port in (5000, 5001, 5002):
            await other.register("svc", port)
        # the daemon wrote those events before it answers this ping
        await client.ping()
        with pytest.raises(RegistryError, match="fell behind: more than 2 events"):
            while True:
                await next_event(events)
