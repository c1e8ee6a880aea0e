"""Tests of unsolicited reply subscriptions and their dispatcher (no sockets)."""

from __future__ import annotations

import asyncio
import gc

import pytest
import structlog

from mountcomm.commanding.unsolicited import UnsolicitedDispatcher, UnsolicitedReplies
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.protocol import replies
from tests.timing import UNIT


def state(i: int) -> replies.OnStateInfoReply:
    # A fixed timestamp: replies compare equal by their encoded fields.
    return replies.OnStateInfoReply(description=f"state {i}", timestamp=1.0e9)


def dispatcher() -> UnsolicitedDispatcher:
    return UnsolicitedDispatcher(structlog.get_logger("test"))


async def test_queue_is_bounded_and_drops_the_oldest() -> None:
    subscription = UnsolicitedReplies(maxsize=3)
    for i in range(5):
        subscription.put(state(i))
    assert len(subscription) == 3
    assert subscription.dropped == 2
    subscription.end()
    assert [r.description async for r in subscription] == ["state 2", "state 3", "state 4"]


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        UnsolicitedReplies(maxsize=0)


async def test_cancelling_anext_loses_nothing(unit: float) -> None:
    subscription = UnsolicitedReplies()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(subscription), unit)
    reply = state(1)
    subscription.put(reply)
    assert await asyncio.wait_for(anext(subscription), 1 * UNIT) is reply


async def test_waiting_consumer_is_woken() -> None:
    subscription = UnsolicitedReplies()
    task = asyncio.create_task(anext(subscription))
    # Callbacks run in order: the consumer starts waiting before the put.
    reply = state(7)
    asyncio.get_running_loop().call_soon(subscription.put, reply)
    assert await asyncio.wait_for(task, 1 * UNIT) is reply


async def test_end_with_error_delivers_queue_then_raises_once() -> None:
    subscription = UnsolicitedReplies()
    subscription.put(state(1))
    cause = ConnectionResetError("reset")
    error = ConnectionClosedError("lost")
    error.__cause__ = cause
    subscription.end(error)
    subscription.end()  # first call wins
    subscription.put(state(2))  # ignored after the end
    assert await anext(subscription) == state(1)
    with pytest.raises(ConnectionClosedError) as info:
        await anext(subscription)
    assert info.value.__cause__ is cause
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


async def test_dispatcher_fans_out_and_unsubscribes() -> None:
    hub = dispatcher()
    seen: list[replies.Reply] = []
    hub.add_callback(seen.append)
    first, second = hub.subscribe(), hub.subscribe()
    hub.dispatch(state(1))
    second.close()
    second.close()  # idempotent
    hub.dispatch(state(2))
    assert seen == [state(1), state(2)]
    assert len(first) == 2
    assert len(second) == 0
    hub.remove_callback(seen.append)
    hub.dispatch(state(3))
    assert len(seen) == 2
    with pytest.raises(StopAsyncIteration):
        await anext(second)


async def test_dispatcher_end_close_vs_loss() -> None:
    closed, lost = dispatcher(), dispatcher()
    a, b = closed.subscribe(), lost.subscribe()
    closed.end(lost=False)
    cause = OSError("boom")
    lost.end(lost=True, cause=cause)
    lost.end(lost=False)  # first call wins
    with pytest.raises(StopAsyncIteration):
        await anext(a)
    with pytest.raises(ConnectionClosedError) as info:
        await anext(b)
    assert info.value.__cause__ is cause
    with pytest.raises(StopAsyncIteration):
        await anext(closed.subscribe())
    with pytest.raises(ConnectionClosedError):
        await anext(lost.subscribe())


def test_coroutine_callbacks_are_refused() -> None:
    async def callback(reply: replies.Reply) -> None:
        pass

    with pytest.raises(TypeError, match="plain function"):
        dispatcher().add_callback(callback)


async def test_dropped_subscriptions_are_forgotten() -> None:
    hub = dispatcher()
    hub.subscribe()
    gc.collect()
    assert len(hub._subscriptions) == 0


async def test_second_waiting_consumer_is_refused_and_the_first_still_served() -> None:
    subscription = UnsolicitedReplies()
    first = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)  # one loop turn: the first consumer is waiting
    with pytest.raises(RuntimeError, match="once per consumer"):
        await anext(subscription)
    reply = state(1)
    subscription.put(reply)
    assert await asyncio.wait_for(first, 1 * UNIT) is reply  # not left waiting forever
    # Once nobody waits, another task may take the next reply.
    subscription.put(state(2))
    assert await asyncio.wait_for(anext(subscription), 1 * UNIT) == state(2)


async def test_several_consumers_each_get_every_reply() -> None:
    hub = dispatcher()
    consumers = [hub.subscribe(maxsize=2) for _ in range(3)]
    waiting = [asyncio.create_task(anext(c)) for c in consumers]
    await asyncio.sleep(0)  # one loop turn: all three are waiting
    for i in range(3):  # before any consumer runs: each queue drops its oldest
        hub.dispatch(state(i))
    assert [await asyncio.wait_for(w, 1 * UNIT) for w in waiting] == [state(1)] * 3
    assert [c.dropped for c in consumers] == [1, 1, 1]
    consumers[0].close()
    hub.dispatch(state(3))
    hub.end(lost=False)
    rest = [[r async for r in c] for c in consumers]
    assert rest == [[], [state(2), state(3)], [state(2), state(3)]]
