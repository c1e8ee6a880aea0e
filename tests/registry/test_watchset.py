"""`WatchSet` and `PortWatch` over a fake `Channel`: the watches need nothing else of a client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mountcomm.exceptions import ConnectionClosedError, RegistryError, RegistryRequestError
from mountcomm.registry import native
from mountcomm.registry.entries import EventKind, PortEntry, PortEvent, Query
from mountcomm.registry.watch import PortWatch, WatchSet
from tests.timing import T

A = PortEntry(5000, "svc", "alice")
B = PortEntry(5001, "svc", "alice")


class FakeChannel:
    """Answers each request at once with what the test queued; records what was sent."""

    def __init__(self) -> None:
        self.log = _Log()
        self.connected = True
        self.sent: list[tuple[int, native.Request[Any]]] = []
        self.replies: list[native.Reply | RegistryError] = []
        self.before_reply: Callable[[], Awaitable[None]] | None = None
        self._ids = iter(range(1, 1000))

    async def request(
        self,
        request: native.Request[Any],
        *,
        on_reply: Callable[[int, Any], None] | None = None,
    ) -> Any:
        rid = next(self._ids)
        self.sent.append((rid, request))
        reply = self.replies.pop(0) if self.replies else native.Done()
        if self.before_reply is not None:
            hook, self.before_reply = self.before_reply, None
            await hook()
        if isinstance(reply, RegistryError):
            raise reply
        if on_reply is not None:
            on_reply(rid, reply)
        return reply


class _Log:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def debug(self, event: str, **kw: Any) -> None:
        self.records.append((event, kw))

    warning = debug


async def next_event(watch: PortWatch) -> PortEvent:
    return await asyncio.wait_for(anext(watch), T)


async def test_a_watch_starts_gets_its_events_and_stops() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(native.EntriesReply((A,)))
    watch = PortWatch(watches, Query(service="svc"), initial=True, max_queue=10)
    await watch.start()
    ((rid, request),) = channel.sent
    assert request == native.Watch("svc", trusted_users=())
    assert len(watches) == 1 and watch.entries == [A]
    assert await next_event(watch) == PortEvent(EventKind.ADDED, *A.as_dict().values(), True)
    watches.deliver(rid, PortEvent.of(EventKind.ADDED, B))
    watches.deliver(rid + 100, PortEvent.of(EventKind.REMOVED, A))  # another watch's: ignored
    assert (await next_event(watch)).port == B.port
    await watch.close()
    assert channel.sent[-1] == (rid + 1, native.Unwatch(rid))
    assert len(watches) == 0 and watch.ended
    with pytest.raises(StopAsyncIteration):
        await anext(watch)


async def test_a_refused_start_ends_the_watch() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(RegistryRequestError("too many watches"))
    watch = PortWatch(watches, Query(), initial=True, max_queue=10)
    with pytest.raises(RegistryRequestError):
        await watch.start()
    assert watch.ended and len(watches) == 0


async def test_a_lost_connection_suspends_then_resume_restarts_under_a_new_id() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(native.EntriesReply((A, B)))
    watch = PortWatch(watches, Query(), initial=False, max_queue=10)
    await watch.start()
    watches.deliver(channel.sent[0][0], PortEvent.of(EventKind.REMOVED, A))
    assert (await next_event(watch)).kind is EventKind.REMOVED
    watches.deliver(channel.sent[0][0], PortEvent.of(EventKind.ADDED, A))
    await next_event(watch)
    watches.suspend()
    assert (await next_event(watch)) == PortEvent.of(EventKind.REMOVED, A)  # what it reported
    channel.replies.append(native.EntriesReply((B,)))
    await watches.resume(channel.request)
    new_id, request = channel.sent[-1]
    assert isinstance(request, native.Watch) and new_id != channel.sent[0][0]
    assert watch.resumptions == 1 and watch.entries == [B]
    assert await next_event(watch) == PortEvent.of(EventKind.ADDED, B, initial=True)
    watches.deliver(new_id, PortEvent.of(EventKind.REMOVED, B))
    assert (await next_event(watch)).kind is EventKind.REMOVED
    await watch.close()


async def test_a_watch_closed_while_its_resume_is_in_flight_is_stopped_on_the_daemon() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(native.EntriesReply())
    watch = PortWatch(watches, Query(), initial=True, max_queue=10)
    await watch.start()
    watches.suspend()
    channel.connected = False  # reconnecting: close() cannot tell the daemon itself
    channel.replies.append(native.EntriesReply((A,)))
    channel.before_reply = watch.close  # the user closes it before the daemon answers
    await asyncio.wait_for(watches.resume(channel.request), T)
    resumed_id = channel.sent[1][0]
    assert channel.sent[-1][1] == native.Unwatch(resumed_id)
    assert len(watches) == 0 and watch.ended


async def test_a_refused_resume_ends_the_watch_with_the_refusal() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(native.EntriesReply())
    watch = PortWatch(watches, Query(), initial=True, max_queue=10)
    await watch.start()
    watches.suspend()
    channel.replies.append(RegistryRequestError("no user is named bob"))
    await watches.resume(channel.request)
    with pytest.raises(RegistryRequestError, match="bob"):
        await next_event(watch)
    assert len(watches) == 0
    assert channel.log.records[-1][0] == "watch_resume_failed"


async def test_a_watch_that_falls_behind_leaves_the_set() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    channel.replies.append(native.EntriesReply())
    watch = PortWatch(watches, Query(), initial=True, max_queue=1)
    await watch.start()
    rid = channel.sent[0][0]
    watches.deliver(rid, PortEvent.of(EventKind.ADDED, A))
    watches.deliver(rid, PortEvent.of(EventKind.ADDED, B))
    assert len(watches) == 0 and watch.ended
    assert (await next_event(watch)).port == A.port
    with pytest.raises(RegistryError, match="fell behind"):
        await next_event(watch)


async def test_end_fails_every_watch_with_its_own_error() -> None:
    channel = FakeChannel()
    watches = WatchSet(channel)
    started = [PortWatch(watches, Query(), True, 10, None) for _ in range(2)]
    for watch in started:
        channel.replies.append(native.EntriesReply())
        await watch.start()
    watches.end(lambda: ConnectionClosedError("closed"))
    errors = []
    for watch in started:
        with pytest.raises(ConnectionClosedError) as info:
            await next_event(watch)
        errors.append(info.value)
    assert errors[0] is not errors[1] and len(watches) == 0
