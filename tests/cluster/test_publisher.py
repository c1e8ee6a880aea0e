"""The link's publisher: its changes pipelined on a session, with a fake session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.cluster.errors import EtcdRequestError, EtcdUnavailable
from mountcomm.registry.cluster.link import MAX_IN_FLIGHT, ClusterLink, _Publisher
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


@pytest.fixture
def link() -> ClusterLink:
    """A link that is never started: only its change bookkeeping is used."""
    settings = ClusterSettings((("127.0.0.1", 1),))
    return ClusterLink(settings, "127.0.0.1", local_entries=list, on_events=lambda _: None)


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


@pytest.fixture
async def publisher(link: ClusterLink, session: FakeSession) -> AsyncIterator[_Publisher]:
    publisher = _Publisher(link, session, LEASE)  # type: ignore[arg-type]
    yield publisher
    publisher.stop()


def change(link: ClusterLink, key: bytes, value: bytes | None) -> None:
    """What the link does for a local change: record what etcd should hold, mark it unsent."""
    if value is None:
        link._desired.pop(key, None)
    else:
        link._desired[key] = value
    link._mark(key)


async def test_changes_are_sent_at_once_in_order_without_waiting_for_answers(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    """Every unsent change is written before any answer arrives.

    The publisher this replaced sent one change and awaited etcd's answer
    before sending the next, so a burst of N changes took N round trips.
    """
    for i in range(5):
        change(link, b"/k%d" % i, b"v%d" % i)
    change(link, b"/gone", None)
    publisher.send()
    assert session.sent == [*((b"/k%d" % i, b"v%d" % i) for i in range(5)), (b"/gone", None)]
    assert not any(answer.done() for answer in session.answers)
    assert publisher.in_flight == 6
    assert not link._dirty
    assert not link._published.is_set()


async def test_a_key_changed_again_while_unsent_moves_to_the_end(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    change(link, b"/a", b"1")
    change(link, b"/b", b"1")
    change(link, b"/c", b"1")
    change(link, b"/a", b"2")
    publisher.send()
    assert session.sent == [(b"/b", b"1"), (b"/c", b"1"), (b"/a", b"2")]


async def test_a_key_changed_again_while_in_flight_is_sent_again(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    change(link, b"/a", b"1")
    publisher.send()
    change(link, b"/a", None)
    publisher.send()
    assert session.sent == [(b"/a", b"1"), (b"/a", None)]
    assert publisher.in_flight == 2


async def test_at_most_max_in_flight_unanswered(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    total = MAX_IN_FLIGHT + 10
    for i in range(total):
        change(link, b"/k%04d" % i, b"v")
    publisher.send()
    assert len(session.sent) == MAX_IN_FLIGHT == publisher.in_flight
    assert len(link._dirty) == 10
    session.answer(0)
    session.answer(1)
    await callbacks_run()
    assert len(session.sent) == MAX_IN_FLIGHT + 2 and publisher.in_flight == MAX_IN_FLIGHT
    answered = 2
    while answered < len(session.sent):  # answer what is out; the rest follow the answers
        for i in range(answered, len(session.sent)):
            session.answer(i)
        answered = len(session.sent)
        await callbacks_run()
    assert [key for key, _ in session.sent] == [b"/k%04d" % i for i in range(total)]
    assert publisher.in_flight == 0 and not link._dirty
    assert link._published.is_set()


async def test_the_first_failed_answer_sets_failed_and_stops_sending(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    for i in range(3):
        change(link, b"/k%d" % i, b"v")
    publisher.send()
    refused = EtcdRequestError("lease not found", 5)
    session.answer(1, refused)
    session.answer(0)
    await callbacks_run()
    assert publisher.failed.done() and publisher.failed.exception() is refused
    change(link, b"/later", b"v")
    publisher.send()
    session.answer(2, EtcdUnavailable("lost too"))  # a later failure changes nothing
    await callbacks_run()
    assert len(session.sent) == 3  # nothing sent after the failure
    assert publisher.failed.exception() is refused
    assert b"/later" in link._dirty  # left for the next session
    assert not link._published.is_set()


async def test_a_change_that_cannot_be_sent_sets_failed(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    change(link, b"/a", b"v")
    session.refuse = EtcdUnavailable("no live connection")
    publisher.send()
    assert publisher.failed.exception() is session.refuse
    assert list(link._dirty) == [b"/a"]  # still unsent


async def test_a_cancelled_answer_sets_failed(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    change(link, b"/a", b"v")
    publisher.send()
    session.answers[0].cancel()
    await callbacks_run()
    with pytest.raises(EtcdUnavailable, match="cancelled"):
        publisher.failed.result()


async def test_wait_idle_returns_when_every_change_is_answered(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    for i in range(3):
        change(link, b"/k%d" % i, b"v")
    publisher.send()
    idle = asyncio.ensure_future(publisher.wait_idle())
    for i in range(3):
        await callbacks_run()
        assert not idle.done() and not link._published.is_set()
        session.answer(i)
    async with asyncio.timeout(T):
        await idle
    assert link._published.is_set()
    async with asyncio.timeout(T):
        await publisher.wait_idle()  # already idle: returns at once


async def test_wait_idle_raises_on_failure(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    for i in range(2):
        change(link, b"/k%d" % i, b"v")
    publisher.send()
    idle = asyncio.ensure_future(publisher.wait_idle())
    await callbacks_run()
    session.answer(0, EtcdRequestError("refused", 3))
    with pytest.raises(EtcdRequestError, match="refused"):
        async with asyncio.timeout(T):
            await idle
    session.answer(1)


async def test_published_is_cleared_by_a_change_and_set_when_idle(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    publisher.send()  # nothing to send: idle at once
    assert link._published.is_set()
    change(link, b"/a", b"v")
    assert not link._published.is_set()
    publisher.send()
    assert not link._published.is_set()  # sent, not answered
    session.answer(0)
    await callbacks_run()
    assert link._published.is_set()


async def test_stop_sends_nothing_more(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    publisher.stop()
    assert publisher.failed.cancelled()
    change(link, b"/a", b"v")
    publisher.send()
    assert session.sent == []
    assert not link._published.is_set()


async def test_wait_idle_raises_etcd_unavailable_when_stopped(
    link: ClusterLink, session: FakeSession, publisher: _Publisher
) -> None:
    """A stop is the session ending, not a cancellation of the waiter."""
    change(link, b"/a", b"v")
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
