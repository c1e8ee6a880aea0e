"""The link's publisher: its changes pipelined on a session, with a fake session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mountcomm.registry.cluster.desired import DesiredKeys
from mountcomm.registry.cluster.errors import EtcdRequestError, EtcdUnavailable
from mountcomm.registry.cluster.link import MAX_IN_FLIGHT, Publisher
from mountcomm.registry.cluster.records import record_key
from mountcomm.registry.entries import EventKind, PortEvent
from tests.timing import UNIT

T = 5 * UNIT
"""Bound on any wait [s]."""

LEASE = 0x1234


class FakeSession:
    """Records each change sent; the test answers (resolves) them when it likes."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes | None]] = []
        self.answers: list[asyncio.Future[None]] = []
        self.refuse: EtcdUnavailable | None = None

    def send_change(self, key: bytes, value: bytes | None, lease: int) -> asyncio.Future[None]:
        if self.refuse is not None:
            raise self.refuse
        assert lease == LEASE
        self.sent.append((key, value))
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return answer

    def answer(self, index: int, error: BaseException | None = None) -> None:
        if error is None:
            self.answers[index].set_result(None)
        else:
            self.answers[index].set_exception(error)


async def callbacks_run() -> None:
    """Let the answers' done callbacks (scheduled with call_soon) run: one loop step."""
    await asyncio.sleep(0)


class Link:
    """What the publisher works for: the desired keys, and a flag its ``on_settled`` sets."""

    def __init__(self) -> None:
        self.keys = DesiredKeys("/", "h", daemon="d")
        self.published = asyncio.Event()

    def change(self, port: int, present: bool = True) -> None:
        """A local change (as `ClusterLink.local_changed` makes it)."""
        kind = EventKind.ADDED if present else EventKind.REMOVED
        self.keys.change([PortEvent(kind, port, "svc", "u")], now=1.0)
        self.published.clear()


def key(port: int) -> bytes:
    return record_key("/", "h", port)


@pytest.fixture
def link() -> Link:
    return Link()


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


@pytest.fixture
async def publisher(link: Link, session: FakeSession) -> AsyncIterator[Publisher]:
    publisher = Publisher(link.keys, session, LEASE, link.published.set)  # type: ignore[arg-type]
    yield publisher
    publisher.stop()


def sent(session: FakeSession) -> list[tuple[bytes, bool]]:
    """(key, is a put) of each change sent."""
    return [(k, v is not None) for k, v in session.sent]


async def test_changes_are_sent_at_once_in_order_without_waiting_for_answers(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    """Every unsent change is written before any answer arrives.

    The publisher this replaced sent one change and awaited etcd's answer
    before sending the next, so a burst of N changes took N round trips.
    """
    for i in range(1, 6):
        link.change(i)
    link.change(99, present=False)
    publisher.send()
    assert sent(session) == [*((key(i), True) for i in range(1, 6)), (key(99), False)]
    assert not any(answer.done() for answer in session.answers)
    assert link.keys.in_flight == 6
    assert link.keys.unsent == 0
    assert not link.published.is_set()


async def test_a_key_changed_again_while_unsent_moves_to_the_end(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    link.change(1)
    link.change(2)
    link.change(3)
    link.change(1, present=False)
    publisher.send()
    assert sent(session) == [(key(2), True), (key(3), True), (key(1), False)]


async def test_a_key_changed_again_while_in_flight_is_sent_again(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    link.change(1)
    publisher.send()
    link.change(1, present=False)
    publisher.send()
    assert sent(session) == [(key(1), True), (key(1), False)]
    assert link.keys.in_flight == 2


async def test_at_most_max_in_flight_unanswered(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    total = MAX_IN_FLIGHT + 10
    for i in range(1, total + 1):
        link.change(i)
    publisher.send()
    assert len(session.sent) == MAX_IN_FLIGHT == link.keys.in_flight
    assert link.keys.unsent == 10
    session.answer(0)
    session.answer(1)
    await callbacks_run()
    assert len(session.sent) == MAX_IN_FLIGHT + 2 and link.keys.in_flight == MAX_IN_FLIGHT
    answered = 2
    while answered < len(session.sent):  # answer what is out; the rest follow the answers
        for i in range(answered, len(session.sent)):
            session.answer(i)
        answered = len(session.sent)
        await callbacks_run()
    assert [k for k, _ in session.sent] == [key(i) for i in range(1, total + 1)]
    assert link.keys.in_flight == 0 and link.keys.unsent == 0
    assert link.published.is_set()


async def test_the_first_failed_answer_sets_failed_and_stops_sending(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    for i in range(1, 4):
        link.change(i)
    publisher.send()
    refused = EtcdRequestError("lease not found", 5)
    session.answer(1, refused)
    session.answer(0)
    await callbacks_run()
    assert publisher.failed.done() and publisher.failed.exception() is refused
    link.change(50)
    publisher.send()
    session.answer(2, EtcdUnavailable("lost too"))  # a later failure changes nothing
    await callbacks_run()
    assert len(session.sent) == 3  # nothing sent after the failure
    assert publisher.failed.exception() is refused
    assert key(50) in link.keys.unsent_keys()  # left for the next session
    assert not link.published.is_set()


async def test_a_change_that_cannot_be_sent_sets_failed(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    link.change(1)
    link.change(2)
    session.refuse = EtcdUnavailable("no live connection")
    publisher.send()
    assert publisher.failed.exception() is session.refuse
    assert link.keys.unsent_keys() == [key(1), key(2)]  # still unsent, in order
    assert link.keys.in_flight == 0


async def test_a_cancelled_answer_sets_failed(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    link.change(1)
    publisher.send()
    session.answers[0].cancel()
    await callbacks_run()
    with pytest.raises(EtcdUnavailable, match="cancelled"):
        publisher.failed.result()


async def test_wait_idle_returns_when_every_change_is_answered(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    for i in range(1, 4):
        link.change(i)
    publisher.send()
    idle = asyncio.ensure_future(publisher.wait_idle())
    for i in range(3):
        await callbacks_run()
        assert not idle.done() and not link.published.is_set()
        session.answer(i)
    async with asyncio.timeout(T):
        await idle
    assert link.published.is_set()
    async with asyncio.timeout(T):
        await publisher.wait_idle()  # already idle: returns at once


async def test_wait_idle_raises_on_failure(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    for i in range(1, 3):
        link.change(i)
    publisher.send()
    idle = asyncio.ensure_future(publisher.wait_idle())
    await callbacks_run()
    session.answer(0, EtcdRequestError("refused", 3))
    with pytest.raises(EtcdRequestError, match="refused"):
        async with asyncio.timeout(T):
            await idle
    session.answer(1)


async def test_published_is_cleared_by_a_change_and_set_when_idle(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    publisher.send()  # nothing to send: idle at once
    assert link.published.is_set()
    link.change(1)
    assert not link.published.is_set()
    publisher.send()
    assert not link.published.is_set()  # sent, not answered
    session.answer(0)
    await callbacks_run()
    assert link.published.is_set()


async def test_stop_sends_nothing_more(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    publisher.stop()
    assert publisher.failed.cancelled()
    link.change(1)
    publisher.send()
    assert session.sent == []
    assert not link.published.is_set()


async def test_wait_idle_raises_etcd_unavailable_when_stopped(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    """A stop is the session ending, not a cancellation of the waiter."""
    link.change(1)
    publisher.send()
    idle = asyncio.ensure_future(publisher.wait_idle())
    await callbacks_run()
    publisher.stop()
    with pytest.raises(EtcdUnavailable, match="stopped"):
        async with asyncio.timeout(T):
            await idle
    assert not idle.cancelled()
    with pytest.raises(EtcdUnavailable, match="stopped"):
        await publisher.wait_idle()


async def test_answers_after_the_session_failed_do_not_count(
    link: Link, session: FakeSession, publisher: Publisher
) -> None:
    """Once a publisher failed, a late answer changes nothing (a new session republishes)."""
    link.change(1)
    link.change(2)
    publisher.send()
    session.answer(0, EtcdUnavailable("lost"))
    await callbacks_run()
    link.keys.republish([], [], now=2.0)  # the next session starts from scratch
    session.answer(1)
    await callbacks_run()
    assert link.keys.in_flight == 0 and link.keys.settled
