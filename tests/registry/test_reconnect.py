"""`PortRegistry(reconnect=True)`: a daemon that restarts on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from mountcomm.exceptions import ConnectionClosedError
from mountcomm.registry import PortEvent, PortRegistry
from mountcomm.registry.client import TRANSITIONS, State, reconnect_delays
from mountcomm.registry.entries import Lease
from mountcomm.registry.harness import RegistryHarness
from mountcomm.registry.peer import current_user
from mountcomm.registry.server import RegistryServer
from mountcomm.registry.state import Event, Machine, next_state

from .conftest import T


async def next_event(events: AsyncIterator[PortEvent]) -> PortEvent:
    return await asyncio.wait_for(events.__anext__(), T)


def what(event: PortEvent) -> tuple[str, int, str, bool]:
    return event.kind, event.port, event.service, event.initial


@contextlib.asynccontextmanager
async def daemon(port: int = 0) -> AsyncIterator[RegistryServer]:
    """A daemon on 127.0.0.1 (``port`` 0: the OS picks; else reuse that one)."""
    async with RegistryServer("127.0.0.1", port, pool=None, shutdown_timeout=T) as server:
        yield server


def test_reconnect_delays_back_off_with_jitter() -> None:
    delays = reconnect_delays()
    first = [next(delays) for _ in range(12)]
    assert 0.0375 <= first[0] <= 0.05
    assert all(0.75 * 0.4 <= d <= 0.4 for d in first[-3:])  # capped at 0.4 s


async def test_a_restarted_daemon_gets_the_entries_back_and_watches_resume() -> None:
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(daemon())
        port = first.port
        owner = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        other = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        stack.push_async_callback(owner.close)
        stack.push_async_callback(other.close)
        registered = await owner.register("svc", 20001)
        allocated = await owner.allocate("alloc")
        own = await stack.enter_async_context(owner.watch(service="svc"))
        seen = await stack.enter_async_context(other.watch(beginswith="svc"))
        assert what(await next_event(own)) == ("added", 20001, "svc", True)
        assert what(await next_event(seen)) == ("added", 20001, "svc", True)

        await first.close()
        # Each watcher is told at once that the entries went with the daemon.
        assert what(await next_event(own)) == ("removed", 20001, "svc", False)
        assert what(await next_event(seen)) == ("removed", 20001, "svc", False)
        # While disconnected, calls fail at once.
        assert not owner.connected
        assert owner.reconnect_task is not None and not owner.reconnect_task.done()
        with pytest.raises(ConnectionClosedError, match="reconnecting"):
            await owner.register("late", 20002)
        with pytest.raises(ConnectionClosedError):
            await owner.list_ports()

        second = await stack.enter_async_context(daemon(port))
        assert second.port == port
        await asyncio.wait_for(owner.wait_connected(), T)
        assert owner.connected and owner.reconnect_task is None
        # The owner registered again before it called itself connected.
        assert {(e.port, e.service) for e in await owner.list_ports()} == {
            (registered.port, "svc"),
            (allocated.port, allocated.service),
        }
        # The new snapshot: the owner's watch resumed after its own re-registration.
        assert what(await next_event(own)) == ("added", 20001, "svc", True)
        assert own.resumptions == 1 and [e.port for e in own.entries] == [20001]
        # The other client may have resumed before or after the owner registered again.
        event = await next_event(seen)
        assert (event.kind, event.port, event.service) == ("added", 20001, "svc")
        await asyncio.wait_for(other.wait_connected(), T)

        # Then live events, and the owner's entries still end with its connection.
        await owner.register("svc_live", 20003)
        assert what(await next_event(seen)) == ("added", 20003, "svc_live", False)
        await owner.release(20003)
        assert what(await next_event(seen)) == ("removed", 20003, "svc_live", False)
        await owner.close()
        assert what(await next_event(seen)) == ("removed", 20001, "svc", False)
        assert [e.port for e in await other.list_ports()] == []


async def test_a_released_entry_is_not_registered_again() -> None:
    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        try:
            await client.register("kept", 20001)
            await client.register("released", 20002)
            await client.release(20002)
            async with client.watch(service="kept") as events:
                assert (await next_event(events)).kind == "added"
                await first.close()
                assert (await next_event(events)).kind == "removed"
                async with daemon(port):
                    await asyncio.wait_for(client.wait_connected(), T)
                    assert [e.service for e in await client.list_ports()] == ["kept"]
        finally:
            await client.close()


async def test_a_refused_reregistration_is_logged_and_forgotten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test_reconnect")
    caplog.set_level(logging.INFO, logger=log.name)
    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True, log=log)
        try:
            await client.register("mine", 20001)
            await client.register("also_mine", 20002)
            async with client.watch(beginswith="mine") as events:
                assert (await next_event(events)).kind == "added"
                await first.close()
                assert (await next_event(events)).kind == "removed"
                second = RegistryServer("127.0.0.1", port, pool=None)
                # Someone else took port 20001 on the new daemon before we came back.
                second.store.register("theirs", 20001, current_user(), Lease("pid", 1))
                async with second:
                    await asyncio.wait_for(client.wait_connected(), T)
                    entries = await client.list_ports()
                    assert [(e.port, e.service) for e in entries] == [
                        (20001, "theirs"),
                        (20002, "also_mine"),
                    ]
                    assert "reregister_failed" in caplog.text
                    assert "registry_reconnected" in caplog.text
        finally:
            await client.close()


async def test_close_during_reconnection_leaves_no_task() -> None:
    async with daemon() as server:
        client = PortRegistry("127.0.0.1", server.port, timeout=T, reconnect=True)
        await client.register("svc", 20001)
        events = client.watch(service="svc")
        await events.start()
        assert (await next_event(events)).kind == "added"
        await server.close()
        assert (await next_event(events)).kind == "removed"
        task = client.reconnect_task
        assert task is not None and not task.done()
        waiter = asyncio.ensure_future(client.wait_connected())
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.wait_for(client.close(), T)
        assert task.done() and client.reconnect_task is None
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(waiter, T)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(pending, T)
        with pytest.raises(ConnectionClosedError):
            await client.ping()


async def test_without_reconnect_nothing_is_retried() -> None:
    async with daemon() as server:
        client = PortRegistry("127.0.0.1", server.port, timeout=T)
        try:
            events = client.watch()
            await events.start()
            await server.close()
            with pytest.raises(ConnectionClosedError):
                await next_event(events)
            assert client.reconnect_task is None
            with pytest.raises(ConnectionClosedError):
                await client.wait_connected()
        finally:
            await client.close()


async def test_a_watch_without_initial_events_gets_the_snapshot_on_resumption() -> None:
    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        try:
            await client.register("before", 20001)
            async with client.watch(initial=False) as events:
                await client.register("live", 20002)
                assert what(await next_event(events)) == ("added", 20002, "live", False)
                await first.close()
                # "before" was never reported, so it is not reported removed either.
                assert what(await next_event(events)) == ("removed", 20002, "live", False)
                assert events.resumptions == 0 and not events.ended
                async with daemon(port):
                    assert what(await next_event(events)) == ("added", 20001, "before", True)
                    assert what(await next_event(events)) == ("added", 20002, "live", True)
                    assert events.resumptions == 1
        finally:
            await client.close()


async def test_a_connection_lost_while_resuming_is_retried() -> None:
    handlers: set[asyncio.Task[object]] = set()
    hung_up = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A daemon that dies as soon as it is asked something."""
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        await reader.readline()
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        try:
            await client.register("svc", 20001)
            async with client.watch() as events:
                assert what(await next_event(events)) == ("added", 20001, "svc", True)
                await first.close()
                assert what(await next_event(events)) == ("removed", 20001, "svc", False)
                fake = await asyncio.start_server(hang_up, "127.0.0.1", port, reuse_address=True)
                try:
                    await asyncio.wait_for(hung_up.wait(), T)  # the re-registration failed
                finally:
                    fake.close()
                    await asyncio.wait_for(fake.wait_closed(), T)
                    await asyncio.wait_for(asyncio.gather(*handlers), T)
                assert not client.connected
                async with daemon(port):
                    await asyncio.wait_for(client.wait_connected(), T)
                    assert [e.service for e in await client.list_ports()] == ["svc"]
                    assert what(await next_event(events)) == ("added", 20001, "svc", True)
                    assert events.resumptions == 1
        finally:
            await client.close()


async def test_harness_restart_keeps_the_address(port_registry: RegistryHarness) -> None:
    port, old_client = port_registry.port, port_registry.client
    client = await port_registry.new_client(reconnect=True)
    await client.register("svc", 20001)
    await port_registry.restart()
    assert port_registry.port == port and port_registry.client is not old_client
    with pytest.raises(ConnectionClosedError):
        await old_client.ping()  # without reconnect: lost for good
    await asyncio.wait_for(client.wait_connected(), T)
    entries = await port_registry.client.list_ports()
    assert [(e.port, e.service) for e in entries] == [(20001, "svc")]


async def test_a_watch_closed_while_disconnected_is_not_resumed() -> None:
    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        try:
            await client.register("svc", 20001)
            kept, closed = client.watch(), client.watch()
            await kept.start()
            await closed.start()
            assert (await next_event(kept)).kind == "added"
            await first.close()
            assert (await next_event(kept)).kind == "removed"
            await asyncio.wait_for(closed.aclose(), T)  # nothing to tell a daemon now
            async with daemon(port):
                await asyncio.wait_for(client.wait_connected(), T)
                assert what(await next_event(kept)) == ("added", 20001, "svc", True)
                assert closed.ended and closed.resumptions == 0
                # What came before the end can still be read, then the iteration stops.
                assert [what(e) async for e in closed] == [
                    ("added", 20001, "svc", True),
                    ("removed", 20001, "svc", False),
                ]
                await kept.aclose()
        finally:
            await client.close()


async def test_a_daemon_that_accepts_and_closes_at_once_gets_backoff() -> None:
    """Reconnections back off across short-lived connections (not thousands a second)."""
    accepted: list[float] = []
    enough = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(loop.time())
        if len(accepted) >= 6:
            enough.set()
        writer.close()

    async with daemon() as first:
        port = first.port
        client = PortRegistry("127.0.0.1", port, timeout=T, reconnect=True)
        try:
            await client.connect()
            await first.close()
            server = await asyncio.start_server(slam, "127.0.0.1", port, reuse_address=True)
            try:
                await asyncio.wait_for(enough.wait(), 4 * T)
            finally:
                server.close()
                await asyncio.wait_for(server.wait_closed(), T)
            # delays of 50, 100, 200, 400 ms (each at least 3/4 of that) between the
            # five intervals at least: a lower bound, so load cannot make it fail
            assert accepted[5] - accepted[0] >= 0.75 * (0.05 + 0.1 + 0.2 + 0.4)
            assert client.state in (State.RECONNECTING, State.RESUMING, State.CONNECTED)
        finally:
            await client.close()
    assert client.state is State.CLOSED


def test_the_state_table() -> None:
    # every state is in the table; CLOSED is final and reachable from everywhere else
    goes_to = {
        state: {new for new in events.values() if new is not state}
        for state, events in TRANSITIONS.items()
    }
    assert set(TRANSITIONS) == set(State)
    assert goes_to[State.CLOSED] == set()
    assert all(State.CLOSED in goes_to[s] for s in State if s is not State.CLOSED)
    assert State.RECONNECTING in goes_to[State.CONNECTED]
    for old, new in [
        (State.CLOSED, State.CONNECTING),
        (State.CONNECTED, State.RESUMING),
        (State.RECONNECTING, State.CONNECTED),
        (State.IDLE, State.RECONNECTING),
    ]:
        assert new not in goes_to[old], (old, new)


def test_the_machine_is_driven_by_the_table() -> None:
    machine = Machine()
    assert machine.state is State.IDLE
    assert machine.handle(Event.CONNECT) is State.CONNECTING is machine.state
    with pytest.raises(RuntimeError, match="event LOST is not allowed in state CONNECTING"):
        machine.handle(Event.LOST)
    assert machine.state is State.CONNECTING


async def test_states_through_a_life(port_registry: RegistryHarness) -> None:
    client = PortRegistry(port_registry.host, port_registry.port, timeout=T, reconnect=True)
    assert client.state is State.IDLE
    await client.connect()
    assert client.state is State.CONNECTED
    await port_registry.restart()
    await asyncio.wait_for(client.wait_connected(), T)
    assert client.state is State.CONNECTED
    await client.close()
    assert client.state is State.CLOSED
    await client.close()  # idempotent
    with pytest.raises(ConnectionClosedError, match="closed"):
        await client.ping()


# Every (state, event) pair, without a loop: the table is the only writer of the state.
_EXPECTED = {
    (State.IDLE, Event.CONNECT): State.CONNECTING,
    (State.IDLE, Event.CLOSE): State.CLOSED,
    (State.CONNECTING, Event.CONNECT_FAILED): State.IDLE,
    (State.CONNECTING, Event.CONNECTED): State.CONNECTED,
    (State.CONNECTING, Event.CLOSE): State.CLOSED,
    (State.CONNECTED, Event.LOST): State.RECONNECTING,
    (State.CONNECTED, Event.CLOSE): State.CLOSED,
    (State.RECONNECTING, Event.LOST): State.RECONNECTING,
    (State.RECONNECTING, Event.RECONNECTED): State.RESUMING,
    (State.RECONNECTING, Event.CLOSE): State.CLOSED,
    (State.RESUMING, Event.CONNECTED): State.CONNECTED,
    (State.RESUMING, Event.LOST): State.RECONNECTING,
    (State.RESUMING, Event.CLOSE): State.CLOSED,
    (State.CLOSED, Event.CLOSE): State.CLOSED,
}


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.value)
def test_each_state_and_event(state: State, event: Event) -> None:
    expected = _EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(
            RuntimeError, match=f"event {event.name} is not allowed in state {state.name}"
        ):
            next_state(state, event)
    else:
        assert next_state(state, event) is expected
