"""Tests of CommandTracker: replies are fed by hand, time is passed in; no sockets, no sleeps."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.commanding import CommandFutures, CommandTracker
from mountcomm.commanding.ids import ConnectionIds, IdRange
from mountcomm.exceptions import (
    CommandRejected,
    CommandSuperseded,
    CommandTimeout,
    ConnectionClosedError,
)
from mountcomm.protocol import MAX_SEQUENCE_ID, commands, replies

LONG = 60.0  # a timeout that never fires during a test [s]


def move(position: float = 45.0) -> commands.Command:
    return commands.ElevationAxisMove(position=position)


def track() -> commands.Command:
    return commands.ElevationAxisTrack(position=45.0, velocity=0.01, tai=1.0e9)


def ack(sequence_id: int, timeout_ms: int = 0) -> replies.AckReply:
    return replies.AckReply(sequence_id=sequence_id, timeout_ms=timeout_ms)


def noack(sequence_id: int, explanation: str) -> replies.NoAckReply:
    return replies.NoAckReply(sequence_id=sequence_id, explanation=explanation)


def done(sequence_id: int) -> replies.DoneReply:
    return replies.DoneReply(sequence_id=sequence_id)


async def expect_closed(all_futures: list[CommandFutures]) -> None:
    """Await every command and check that each failed with ConnectionClosedError."""
    results = await asyncio.gather(*(f.wait() for f in all_futures), return_exceptions=True)
    assert all(isinstance(r, ConnectionClosedError) for r in results), results


def make_tracker(ack_timeout: float = LONG, done_margin: float = LONG) -> CommandTracker:
    return CommandTracker(ack_timeout=ack_timeout, done_margin=done_margin, first_sequence_id=1)


# --- sequence ids ---------------------------------------------------------------------


async def test_sequence_ids_per_tracker_and_set_on_command() -> None:
    first, second = make_tracker(), make_tracker()
    cmds = [move() for _ in range(3)]
    started = [first.start(cmd) for cmd in cmds]
    ids = [f.sequence_id for f in started]
    assert ids == [1, 2, 3]
    assert [cmd.sequence_id for cmd in cmds] == ids
    other = second.start(move())
    assert other.sequence_id == 1  # nothing shared between trackers
    assert first.issued_ids == IdRange(1, 3)
    assert first.in_flight == 3
    first.connection_lost()
    second.connection_lost()
    await expect_closed([*started, other])


async def test_sequence_ids_wrap_and_skip_ids_in_flight() -> None:
    tracker = CommandTracker(ack_timeout=LONG, first_sequence_id=MAX_SEQUENCE_ID - 1)
    a = tracker.start(move())
    b = tracker.start(move())
    c = tracker.start(move())
    assert (a.sequence_id, b.sequence_id, c.sequence_id) == (
        MAX_SEQUENCE_ID - 1,
        MAX_SEQUENCE_ID,
        1,
    )
    # Only id 2 is free among the next ids once 1 is in flight after a full wrap.
    wrapped = CommandTracker(ack_timeout=LONG, first_sequence_id=MAX_SEQUENCE_ID)
    held = wrapped.start(move())
    assert held.sequence_id == MAX_SEQUENCE_ID
    one = wrapped.start(move())
    assert one.sequence_id == 1
    wrapped._ids = ConnectionIds(MAX_SEQUENCE_ID)  # force a collision with `held`
    two = wrapped.start(move())
    assert two.sequence_id == 2  # MAX and 1 are in flight: skipped
    tracker.connection_lost()
    wrapped.connection_lost()
    await expect_closed([a, b, c, held, one, two])


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="ack_timeout"):
        CommandTracker(ack_timeout=0)
    with pytest.raises(ValueError, match="done_margin"):
        CommandTracker(done_margin=-1)


def test_start_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        make_tracker().start(move())


# --- success paths -------------------------------------------------------------------


async def test_ack_then_done() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    assert not futures.acked
    assert tracker.handle_reply(ack(futures.sequence_id, timeout_ms=2500)) is True
    assert futures.acked
    assert futures.ack.result() == pytest.approx(2.5)
    assert not futures.done.done()
    assert tracker.in_flight == 1
    assert tracker.handle_reply(done(futures.sequence_id)) is True
    assert futures.done.result() is None
    assert tracker.in_flight == 0
    assert futures.deadline is None
    assert await futures.wait() == pytest.approx(2.5)


async def test_ack_only_command_is_done_on_ack() -> None:
    tracker = make_tracker()
    futures = tracker.start(track())
    assert futures.command.ack_only
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=0))
    assert futures.ack.result() == 0.0
    assert futures.done.result() is None
    assert tracker.in_flight == 0
    assert futures.deadline is None


async def test_commands_resolve_independently_out_of_order() -> None:
    tracker = make_tracker()
    all_futures = [tracker.start(move(float(i))) for i in range(5)]
    for futures in reversed(all_futures):
        tracker.handle_reply(ack(futures.sequence_id, timeout_ms=futures.sequence_id))
    for futures in all_futures[::2]:
        tracker.handle_reply(done(futures.sequence_id))
    for i, futures in enumerate(all_futures):
        assert futures.ack.result() == pytest.approx(futures.sequence_id / 1000)
        assert futures.done.done() is (i % 2 == 0)
    assert tracker.in_flight == 2
    tracker.connection_lost()
    await expect_closed(all_futures[1::2])


async def test_done_before_ack_resolves_both() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(done(futures.sequence_id))
    assert futures.ack.result() == 0.0
    assert futures.done.result() is None
    assert tracker.in_flight == 0


async def test_unsolicited_replies_are_not_handled() -> None:
    tracker = make_tracker()
    unsolicited = [
        replies.ErrorReply(on=True, active=True, code=100, subsystem="100. x"),
        replies.WarningReply(active=True, code=400, subsystem="400. y"),
        replies.OnStateInfoReply(description="ok"),
        replies.InPositionReply(what=0, in_position=True),
    ]
    for reply in unsolicited:
        assert tracker.handle_reply(reply) is False
    assert tracker.unknown_replies == 0


# --- NOACK ----------------------------------------------------------------------------


async def test_noack_before_ack_fails_ack_only_once() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(noack(futures.sequence_id, "Out of limits"))
    assert tracker.in_flight == 0
    with pytest.raises(CommandRejected) as info:
        await futures.ack
    assert info.type is CommandRejected
    assert info.value.explanation == "Out of limits"
    assert "before its ACK" in "".join(info.value.__notes__)
    # done is not left pending and is never reported as unretrieved (loop_errors checks).
    assert futures.done.done()
    assert futures.done.exception() is info.value


async def test_noack_before_ack_is_raised_by_done_too() -> None:
    """A caller who awaits only ``done`` gets the real error, not a hang or a cancel."""
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(noack(futures.sequence_id, "Not the commander"))
    with pytest.raises(CommandRejected, match="Not the commander"):
        await futures.done
    with pytest.raises(CommandRejected, match="Not the commander"):
        await futures.wait()


async def test_noack_after_ack_fails_done() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=1000))
    tracker.handle_reply(noack(futures.sequence_id, "Axis fault"))
    assert futures.ack.result() == 1.0
    with pytest.raises(CommandRejected, match="Axis fault") as info:
        await futures.wait()
    assert info.type is CommandRejected
    assert tracker.in_flight == 0


@pytest.mark.parametrize("explanation", ["Superseded", "superseded by 7", "SUPERSEDED"])
async def test_superseded_after_ack(explanation: str) -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=1000))
    tracker.handle_reply(noack(futures.sequence_id, explanation))
    with pytest.raises(CommandSuperseded) as info:
        await futures.done
    assert info.value.explanation == explanation


# --- unknown and duplicate replies ----------------------------------------------------


async def test_unknown_and_duplicate_replies_are_counted_not_fatal() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.handle_reply(ack(999))
    tracker.handle_reply(noack(998, "what?"))
    tracker.handle_reply(done(997))
    assert tracker.unknown_replies == 3
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=10))
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=20))  # duplicate
    assert tracker.unknown_replies == 4
    assert futures.ack.result() == pytest.approx(0.01)
    tracker.handle_reply(done(futures.sequence_id))
    tracker.handle_reply(done(futures.sequence_id))  # late duplicate
    assert tracker.unknown_replies == 5
    assert futures.done.result() is None


# --- timeouts (time is passed in: no timers, no waiting) -------------------------------


async def test_ack_timeout() -> None:
    tracker = make_tracker(ack_timeout=2.0)
    futures = tracker.start(move(), now=100.0)
    assert futures.deadline == 102.0
    assert tracker.next_deadline() == 102.0
    assert tracker.expire(101.999) == []
    [error] = tracker.expire(102.0)
    assert error.delivered == "unknown"
    with pytest.raises(CommandTimeout, match="no ACK for ElevationAxisMove") as info:
        await futures.wait()
    assert info.value is error
    assert isinstance(futures.done.exception(), CommandTimeout)
    assert tracker.in_flight == 0
    assert tracker.next_deadline() is None
    tracker.handle_reply(ack(futures.sequence_id))  # too late: counted, ignored
    assert tracker.unknown_replies == 1


async def test_done_timeout_is_ack_estimate_plus_margin() -> None:
    tracker = make_tracker(done_margin=1.0)
    futures = tracker.start(move(), now=0.0)
    acked_at = 10.0
    tracker.handle_reply(ack(futures.sequence_id, timeout_ms=2000), now=acked_at)
    assert futures.deadline is not None
    assert futures.deadline - acked_at == pytest.approx(3.0)
    assert tracker.next_deadline() == pytest.approx(13.0)
    assert tracker.expire(12.9) == []  # the ACK deadline (60 s) is gone with the ACK
    assert not futures.done.done()
    [error] = tracker.expire(13.0)
    assert error.delivered == "yes"
    with pytest.raises(CommandTimeout, match="no DONE for ElevationAxisMove"):
        await futures.done
    assert "2 s (ACK timeout_ms) + 1 s (margin)" in str(error)
    assert futures.ack.result() == pytest.approx(2.0)
    assert tracker.in_flight == 0


async def test_timers_are_cancelled_when_resolved() -> None:
    tracker = make_tracker(ack_timeout=1.0, done_margin=1.0)
    first = tracker.start(move(), now=0.0)
    second = tracker.start(move(), now=0.0)
    tracker.handle_reply(ack(first.sequence_id), now=0.5)
    tracker.handle_reply(done(first.sequence_id))
    tracker.handle_reply(noack(second.sequence_id, "no"))
    with pytest.raises(CommandRejected):
        await second.ack
    assert tracker.next_deadline() is None
    # A third command outlives both former deadlines; the old ones must not fire.
    third = tracker.start(move(), now=5.0)
    assert tracker.next_deadline() == 6.0
    assert tracker.expire(5.5) == []
    [error] = tracker.expire(6.0)
    with pytest.raises(CommandTimeout):
        await third.ack
    assert error.delivered == "unknown"
    assert first.done.result() is None
    assert tracker.unknown_replies == 0


async def test_expire_fails_in_deadline_order_and_keeps_the_rest() -> None:
    tracker = make_tracker(ack_timeout=10.0, done_margin=0.0)
    late = tracker.start(move(), now=0.0)  # ACK deadline 10
    acked = tracker.start(move(), now=1.0)
    tracker.handle_reply(ack(acked.sequence_id, timeout_ms=2000), now=2.0)  # DONE deadline 4
    early = tracker.start(move(), now=-7.0)  # ACK deadline 3
    errors = tracker.expire(5.0)
    assert [e.delivered for e in errors] == ["unknown", "yes"]
    assert str(early.sequence_id) in str(errors[0])
    assert str(acked.sequence_id) in str(errors[1])
    assert tracker.in_flight == 1
    assert tracker.next_deadline() == 10.0
    tracker.handle_reply(ack(late.sequence_id, timeout_ms=0), now=9.0)
    assert tracker.next_deadline() == 9.0
    tracker.handle_reply(done(late.sequence_id))
    assert tracker.next_deadline() is None
    assert await late.wait() == 0.0
    for futures in (early, acked):
        with pytest.raises(CommandTimeout):
            await futures.wait()


async def test_stale_deadlines_stay_bounded() -> None:
    tracker = make_tracker()
    for i in range(10_000):
        futures = tracker.start(move(), now=float(i))
        tracker.handle_reply(ack(futures.sequence_id), now=float(i))
        tracker.handle_reply(done(futures.sequence_id))
    assert tracker.in_flight == 0
    assert len(tracker._deadlines) <= 64 + 2
    assert tracker.next_deadline() is None


async def test_connection_aborted_fails_everything_with_command_timeout() -> None:
    tracker = make_tracker()
    unacked = tracker.start(move())
    acked = tracker.start(move())
    tracker.handle_reply(ack(acked.sequence_id, timeout_ms=100))
    cause = CommandTimeout("no ACK for X", delivered="unknown")
    tracker.connection_aborted(cause)
    tracker.connection_aborted(cause)  # idempotent
    tracker.connection_lost(OSError("later"))  # and final
    assert tracker.closed
    assert tracker.in_flight == 0
    assert tracker.next_deadline() is None
    with pytest.raises(CommandTimeout, match="outcome unknown") as info:
        await unacked.wait()
    assert info.value.delivered == "unknown"
    assert info.value.__cause__ is cause
    with pytest.raises(CommandTimeout, match="acknowledged") as info:
        await acked.wait()
    assert info.value.delivered == "yes"
    with pytest.raises(ConnectionClosedError, match="closed") as closed:
        tracker.start(move())
    assert closed.value.__cause__ is cause


# --- connection loss -----------------------------------------------------------------


async def test_connection_lost_fails_every_pending_command_at_once() -> None:
    tracker = make_tracker()
    pending = [tracker.start(move(float(i))) for i in range(50)]
    for futures in pending[:25]:
        tracker.handle_reply(ack(futures.sequence_id, timeout_ms=100))
    cause = ConnectionResetError("peer went away")
    tracker.connection_lost(cause)
    assert tracker.in_flight == 0
    assert tracker.closed
    for futures in pending:  # all resolved already: no waiting at all
        assert futures.done.done()
        error = futures.done.exception() if futures.acked else futures.ack.exception()
        assert isinstance(error, ConnectionClosedError)
        assert isinstance(error, ConnectionError)
        assert error.__cause__ is cause
    results = await asyncio.gather(*(f.wait() for f in pending), return_exceptions=True)
    assert all(isinstance(r, ConnectionClosedError) for r in results)
    tracker.connection_lost(OSError("again"))  # idempotent
    with pytest.raises(ConnectionClosedError) as info:
        tracker.start(move())
    assert info.value.__cause__ is cause


async def test_close_without_cause() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.connection_lost()
    with pytest.raises(ConnectionClosedError, match="connection closed") as info:
        await futures.wait()
    assert info.value.__cause__ is None


async def test_fail_one_command() -> None:
    tracker = make_tracker()
    keep = tracker.start(move())
    lost = tracker.start(move())
    error = ConnectionClosedError("write failed")
    tracker.fail(lost, error)
    tracker.fail(lost, error)  # no longer in flight: nothing happens
    with pytest.raises(ConnectionClosedError, match="write failed"):
        await lost.wait()
    assert tracker.in_flight == 1
    assert tracker.get(keep.sequence_id) is keep
    assert tracker.get(lost.sequence_id) is None
    tracker.handle_reply(ack(keep.sequence_id))
    tracker.handle_reply(done(keep.sequence_id))
    await keep.wait()


# --- cancellation by the caller ------------------------------------------------------


async def test_caller_cancelling_ack_moves_the_error_to_done() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    futures.ack.cancel()
    tracker.handle_reply(noack(futures.sequence_id, "Rejected"))
    with pytest.raises(CommandRejected):
        await futures.done


async def test_caller_cancelling_wait_is_safe() -> None:
    tracker = make_tracker()
    acked = tracker.start(move())
    unacked = tracker.start(move())
    tracker.handle_reply(ack(acked.sequence_id, timeout_ms=10))
    for futures in (acked, unacked):
        waiting = asyncio.create_task(futures.wait())
        await asyncio.sleep(0)  # let it start waiting (not a timing sleep: one loop turn)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    for futures in (acked, unacked):
        assert futures.ack.done()
        assert futures.done.cancelled()
    assert unacked.ack.cancelled()
    # Late replies to cancelled futures are absorbed without errors or warnings.
    tracker.handle_reply(noack(acked.sequence_id, "Superseded"))
    tracker.handle_reply(ack(unacked.sequence_id, timeout_ms=10))
    assert tracker.in_flight == 0  # nobody waits for the DONE of `unacked`
    assert tracker.unknown_replies == 0


async def test_repr_shows_state() -> None:
    tracker = make_tracker()
    futures = tracker.start(move())
    assert repr(futures) == "CommandFutures(ElevationAxisMove, sequence_id=1, sent)"
    tracker.handle_reply(ack(1))
    assert "acked" in repr(futures)
    tracker.handle_reply(done(1))
    assert "done" in repr(futures)
    assert isinstance(futures, CommandFutures)


async def test_abandon_after_the_command_failed_reports_nothing() -> None:
    """A send whose write fails after the reset: the futures are never handed out."""
    tracker = make_tracker()
    futures = tracker.start(move())
    tracker.connection_aborted(CommandTimeout("no ACK for X"))
    assert futures.ack.done()
    tracker.abandon(futures)  # no longer in flight: only silences the futures
    assert futures.ack.done()
    assert futures.done.done()
    # loop_errors checks that no "exception was never retrieved" is reported.
