"""Typed connection changes carrying the first cause, and errors chained to it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mountcomm import ClientServerPair, OneClientServer
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.log import get_logger
from mountcomm.net.changes import Change, ChangeListeners, ConnectionChange, describe_cause
from mountcomm.net.errors import IncompleteFrameError, PeerClosedError
from tests.timing import T

from .helpers import LOCAL_HOST, connected_communicators, reset

# --- pure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "calls_back"),
    [
        (ConnectionChange(Change.CLIENT_UP), True),
        (ConnectionChange(Change.SERVER_UP), True),
        (ConnectionChange(Change.CLIENT_LOST, OSError("x")), True),
        (ConnectionChange(Change.CLIENT_LOST, None, local=True), False),  # close_client
        (ConnectionChange(Change.SERVER_LOST, None, local=True), True),
        (ConnectionChange(Change.SERVER_LOST, PeerClosedError("eof")), True),
        (ConnectionChange(Change.CLOSED, None, local=True), False),
    ],
)
def test_which_changes_call_back(change: ConnectionChange, calls_back: bool) -> None:
    assert change.calls_back is calls_back
    assert change.is_loss is (change.kind in (Change.CLIENT_LOST, Change.SERVER_LOST))


def test_listeners_run_in_order_and_a_failing_one_is_logged() -> None:
    seen: list[str] = []

    def bad(change: ConnectionChange) -> None:
        seen.append("bad")
        raise RuntimeError("listener bug")

    listeners = ChangeListeners(get_logger(None, "test"))
    listeners.add(bad)
    listeners.add(lambda change: seen.append(change.kind.value))
    listeners.emit(ConnectionChange(Change.CLIENT_UP))
    listeners.remove(bad)
    listeners.remove(bad)  # not registered: nothing happens
    listeners.emit(ConnectionChange(Change.SERVER_UP))
    assert seen == ["bad", "client_up", "server_up"]
    assert describe_cause(None) == "closed here"
    assert describe_cause(OSError("boom")) == "OSError: boom"


def test_listeners_added_or_removed_by_a_listener_count_from_the_next_change() -> None:
    seen: list[str] = []
    listeners = ChangeListeners(get_logger(None, "test"))

    def late(change: ConnectionChange) -> None:
        seen.append("late " + change.kind.value)

    class Owner:
        def first(self, change: ConnectionChange) -> None:
            seen.append("first " + change.kind.value)
            if change.kind is Change.CLIENT_UP:
                listeners.add(late)
                listeners.remove(owner.second)  # a bound method made again: equal

        def second(self, change: ConnectionChange) -> None:
            seen.append("second " + change.kind.value)

    owner = Owner()
    listeners.add(owner.first)
    listeners.add(owner.second)
    listeners.emit(ConnectionChange(Change.CLIENT_UP))
    listeners.emit(ConnectionChange(Change.SERVER_UP))
    assert seen == ["first client_up", "second client_up", "first server_up", "late server_up"]


# --- over sockets -----------------------------------------------------------------------


class Recorder:
    """A change listener that lets a test wait for a change."""

    def __init__(self) -> None:
        self.changes: list[ConnectionChange] = []
        self._event = asyncio.Event()

    def __call__(self, change: ConnectionChange) -> None:
        self.changes.append(change)
        self._event.set()

    async def wait_for(self, kind: Change) -> ConnectionChange:
        async with asyncio.timeout(T):
            while True:
                for change in self.changes:
                    if change.kind is kind:
                        return change
                self._event.clear()
                await self._event.wait()

    def kinds(self) -> list[Change]:
        return [change.kind for change in self.changes]


async def test_peer_eof_is_the_cause_of_the_loss_and_of_every_waiter() -> None:
    recorder = Recorder()
    async with connected_communicators() as (console, controller):
        console.add_change_listener(recorder)
        await controller.server.close_client()  # the console's client connection gets EOF
        lost = await recorder.wait_for(Change.CLIENT_LOST)
        assert isinstance(lost.cause, PeerClosedError) and not lost.local
        assert console.cause is lost.cause
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(console.wait_connected(), T)
        assert info.value.__cause__ is lost.cause  # the old code raised it unchained

        await controller.close_client()  # the console's server connection gets EOF
        with pytest.raises(IncompleteFrameError) as read_info:
            await asyncio.wait_for(console.read(), T)
        server_lost = await recorder.wait_for(Change.SERVER_LOST)
        assert isinstance(server_lost.cause, PeerClosedError)
        assert read_info.value.__cause__ is server_lost.cause
    assert recorder.kinds()[-1] is Change.CLOSED
    assert recorder.kinds().count(Change.CLOSED) == 1


async def test_a_reset_is_the_cause_and_close_keeps_it() -> None:
    recorder = Recorder()
    server = OneClientServer("server", LOCAL_HOST, 0, None)
    server.add_change_listener(recorder)
    try:
        await asyncio.wait_for(server.start_task, T)
        _, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        await recorder.wait_for(Change.SERVER_UP)
        reset(writer)
        lost = await recorder.wait_for(Change.SERVER_LOST)
        assert isinstance(lost.cause, ConnectionResetError)
        assert server.cause is lost.cause
        waiter = asyncio.create_task(server.wait_connected())
    finally:
        await server.close()
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(waiter, T)
    assert info.value.__cause__ is lost.cause
    with pytest.raises(ConnectionClosedError) as again:
        await server.wait_connected()
    assert again.value.__cause__ is lost.cause
    closed = await recorder.wait_for(Change.CLOSED)
    assert closed.cause is lost.cause


async def test_abort_client_records_the_reason_given() -> None:
    recorder = Recorder()
    calls: list[Any] = []
    async with connected_communicators() as (console, _controller):
        console.connect_callback = calls.append  # the compatibility adapter still runs
        console.add_change_listener(recorder)
        reason = TimeoutError("no ACK in time")
        console.abort_client(reason)
        lost = await recorder.wait_for(Change.CLIENT_LOST)
        assert lost.cause is reason
        assert calls == [console]
        assert not console.client_connected
        with pytest.raises(ConnectionClosedError) as waited:
            await asyncio.wait_for(console.wait_connected(), T)
        assert waited.value.__cause__ is reason


async def test_close_client_reports_a_local_loss_without_the_callback() -> None:
    recorder = Recorder()
    calls: list[Any] = []
    async with connected_communicators() as (console, _controller):
        console.connect_callback = calls.append
        console.add_change_listener(recorder)
        await console.close_client()
        lost = await recorder.wait_for(Change.CLIENT_LOST)
        assert lost.local and lost.cause is None
        assert calls == []


async def test_pair_reports_up_changes_in_order() -> None:
    recorder = Recorder()
    server = OneClientServer("peer", LOCAL_HOST, 0, None)
    await asyncio.wait_for(server.start_task, T)
    pair = ClientServerPair("pair", LOCAL_HOST, server.port, LOCAL_HOST, 0, None, connect=False)
    pair.add_change_listener(recorder)
    try:
        await asyncio.wait_for(pair.connect_client(), T)
        assert recorder.kinds() == [Change.CLIENT_UP]
        _, writer = await asyncio.open_connection(LOCAL_HOST, await pair.wait_server_port())
        await recorder.wait_for(Change.SERVER_UP)
        writer.close()
        await writer.wait_closed()
        await recorder.wait_for(Change.SERVER_LOST)
    finally:
        await pair.close()
        await server.close()
    assert recorder.kinds() == [
        Change.CLIENT_UP,
        Change.SERVER_UP,
        Change.SERVER_LOST,
        Change.CLIENT_LOST,  # close(): the client closed here
        Change.CLOSED,
    ]
    assert recorder.changes[3].local


async def test_close_ends_both_connections_at_once_and_reports_each_loss_once() -> None:
    """close() closes the client and the server connection in its first step."""
    recorder = Recorder()
    async with connected_communicators() as (console, controller):
        console.add_change_listener(recorder)
        server_link, client_link = console.server.link, console.connector.link
        assert server_link is not None and client_link is not None
        closing = asyncio.create_task(console.close())
        await asyncio.sleep(0)  # the close task's first step
        assert server_link.transport is not None and server_link.transport.is_closing()
        assert client_link.transport is not None and client_link.transport.is_closing()
        await asyncio.wait_for(closing, T)
        await asyncio.wait_for(controller.server.link.lost, T)  # type: ignore[union-attr]
    kinds = recorder.kinds()
    assert kinds.count(Change.CLIENT_LOST) == 1 and kinds.count(Change.SERVER_LOST) == 1
    assert kinds[-1] is Change.CLOSED
    assert all(c.local and c.cause is None for c in recorder.changes if c.is_loss)


async def test_begin_close_refuses_clients_and_close_reports_the_loss() -> None:
    recorder = Recorder()
    server = OneClientServer("server", LOCAL_HOST, 0, None)
    server.add_change_listener(recorder)
    writers: list[asyncio.StreamWriter] = []
    try:
        await asyncio.wait_for(server.start_task, T)
        reader, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        writers.append(writer)
        await recorder.wait_for(Change.SERVER_UP)
        server.begin_close()
        server.begin_close()  # idempotent
        assert server.closed and not server.connected
        assert await asyncio.wait_for(reader.read(), T) == b""  # the client sees EOF
        second_reader, second_writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        writers.append(second_writer)
        assert await asyncio.wait_for(second_reader.read(), T) == b""  # refused: closed
        await asyncio.wait_for(server.close(), T)
    finally:
        await server.close()
        for w in writers:
            w.close()
            await w.wait_closed()
    kinds = recorder.kinds()
    assert kinds == [Change.SERVER_UP, Change.SERVER_LOST, Change.CLOSED]
    assert recorder.changes[1].local
