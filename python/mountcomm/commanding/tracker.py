"""Command tracking: sequence ids, ACK/DONE futures and timeouts.

A `CommandTracker` belongs to one connection. It gives each command a sequence id
from its own `SequenceIdGenerator`, keeps one `CommandFutures` record per command
in flight, and resolves the record's futures from the replies it is fed:

=====================  ====================================  ==============================
event                  before the ACK                        after the ACK
=====================  ====================================  ==============================
ACK                    ``ack`` ← timeout [s]; ack-only        (duplicate: logged, counted)
                       commands: ``done`` ← None
NOACK                  ``ack`` fails: `CommandRejected`       ``done`` fails: `CommandRejected`
                                                             or `CommandSuperseded`
DONE                   ``ack`` ← 0.0, ``done`` ← None         ``done`` ← None
no reply in time       ``ack`` fails: `CommandTimeout`        ``done`` fails: `CommandTimeout`
(`expire`)             (``delivered="unknown"``)              (``delivered="yes"``)
connection aborted     ``ack`` fails: `CommandTimeout`        ``done`` fails: `CommandTimeout`
(`connection_aborted`) (``delivered="unknown"``)              (``delivered="yes"``)
connection lost        ``ack`` fails: `ConnectionClosedError` ``done`` fails: same
=====================  ====================================  ==============================

The tracker is pure: it does no I/O, starts no task and owns no timer. Time is an
argument (``now``, seconds on the event loop's clock): each command in flight has
one deadline (its ACK's, then its DONE's); `next_deadline` says when the earliest
falls due and `expire` fails the commands whose deadline has passed. The owner
(`MountClient`) keeps one timer armed at `next_deadline`. The tracker's only
contact with the event loop is creating futures (and reading ``loop.time()`` when
no ``now`` is given).
"""

from __future__ import annotations

__all__ = ["CommandTracker"]

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ..exceptions import CommandTimeout, ConnectionClosedError
from ..log import get_logger
from ..protocol.commands import Command
from ..protocol.replies import AckReply, DoneReply, NoAckReply, Reply
from .futures import CommandFutures
from .ids import ConnectionIds, IdRange
from .policy import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DONE_MARGIN,
    done_timeout,
    noack_exception,
    should_log_occurrence,
)


class CommandTracker:
    """Track the commands in flight on one connection.

    Parameters
    ----------
    ack_timeout : `float`, optional
        How long to wait for the ACK or NOACK of a command [s].
    done_margin : `float`, optional
        How long to wait for DONE beyond the ACK's ``timeout_ms`` [s].
    log : `logging.Logger`, structlog logger or `None`, optional
        Where to log (see `mountcomm.log.get_logger`).
    first_sequence_id : `int` or `None`, optional
        The first sequence id to assign (1 … 2**31 - 1); `None` (the
        default): a random one, so that ids differ between connections and
        processes.
    retired_ids : iterable of `IdRange`, optional
        Ids issued by earlier connections (oldest first): never assigned here,
        so that a late reply to one of them cannot match a command of this
        connection (see `ConnectionIds`).

    Attributes
    ----------
    ack_timeout : `float`
        As given [s]; changing it affects commands started afterwards.
    done_margin : `float`
        As given [s]; changing it affects commands acknowledged afterwards.
    unknown_replies : `int`
        How many ACK/NOACK/DONE replies named a sequence id not in flight
        (never sent, already finished or timed out), plus duplicate ACKs.
    log : structlog logger
        The tracker's logger.

    Notes
    -----
    All methods must be called from the event loop thread; none blocks or awaits.
    Per message the tracker logs nothing; it logs rejections, timeouts, unknown
    replies (throttled, see `policy.should_log_occurrence`) and connection loss.
    Times (``now``, deadlines) are in seconds on the event loop's clock.
    """

    def __init__(
        self,
        *,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        done_margin: float = DEFAULT_DONE_MARGIN,
        log: Any = None,
        first_sequence_id: int | None = None,
        retired_ids: Iterable[IdRange] = (),
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 s, got {ack_timeout}")
        if done_margin < 0:
            raise ValueError(f"done_margin must be >= 0 s, got {done_margin}")
        self.ack_timeout = ack_timeout
        self.done_margin = done_margin
        self.log = get_logger(log, "CommandTracker")
        self.unknown_replies = 0
        self._ids = ConnectionIds(first_sequence_id, retired_ids)
        self._records: dict[int, CommandFutures] = {}
        # Deadlines: a heap of (when, tie-breaker, record); entries whose record
        # finished or got a new deadline are stale and skipped (lazy deletion).
        self._deadlines: list[tuple[float, int, CommandFutures]] = []
        self._tiebreak = itertools.count()
        self._closed_error: ConnectionClosedError | None = None
        self._handlers = {
            AckReply: self.handle_ack,
            NoAckReply: self.handle_noack,
            DoneReply: self.handle_done,
        }

    # --- queries --------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Number of commands sent and not yet finished."""
        return len(self._records)

    @property
    def closed(self) -> bool:
        """True after `connection_lost` or `connection_aborted`; `start` then raises."""
        return self._closed_error is not None

    @property
    def issued_ids(self) -> IdRange:
        """The span of sequence ids assigned so far (to retire with the connection)."""
        return self._ids.issued

    def get(self, sequence_id: int) -> CommandFutures | None:
        """Return the record of a command in flight, or `None`."""
        return self._records.get(sequence_id)

    def next_deadline(self) -> float | None:
        """Return the earliest deadline of a command in flight, or `None` [s].

        Pass a time at or after it to `expire`.
        """
        heap = self._deadlines
        records = self._records
        while heap:
            when, _, futures = heap[0]
            if futures.deadline == when and records.get(futures.sequence_id) is futures:
                return when
            heapq.heappop(heap)  # stale
        return None

    # --- starting and ending commands ------------------------------------------

    def start(self, command: Command, now: float | None = None) -> CommandFutures:
        """Assign a sequence id to ``command`` and start tracking it.

        Sets ``command.sequence_id`` and its ACK deadline (``now`` +
        ``ack_timeout``). Call this just before writing the command; if the
        write fails, call `abandon` or `fail` (or `connection_lost`).

        Parameters
        ----------
        command : `Command`
            The command to track. Its ``sequence_id`` is overwritten.
        now : `float` or `None`, optional
            The current time [s]; `None`: the running loop's ``time()``.

        Returns
        -------
        futures : `CommandFutures`
            The command's futures, created on the running loop.

        Raises
        ------
        ConnectionClosedError
            After `connection_lost` or `connection_aborted`, chained to its cause.
        RuntimeError
            If no event loop is running.
        """
        if self._closed_error is not None:
            raise ConnectionClosedError(
                f"cannot send {type(command).__name__}: the connection is closed"
            ) from self._closed_error.__cause__
        loop = asyncio.get_running_loop()
        sequence_id = next(self._ids)
        while sequence_id in self._records:  # only after a wrap-around
            sequence_id = next(self._ids)
        command.sequence_id = sequence_id  # type: ignore[misc]  # slot made by MessageMeta
        futures = CommandFutures(command, sequence_id, loop.create_future(), loop.create_future())
        self._records[sequence_id] = futures
        self._set_deadline(futures, (loop.time() if now is None else now) + self.ack_timeout)
        return futures

    def fail(self, futures: CommandFutures, error: BaseException) -> None:
        """Stop tracking one command and fail it with ``error``.

        For a command that could not be sent (e.g. its write raised). Does
        nothing if the command is no longer in flight.
        """
        if self._records.get(futures.sequence_id) is not futures:
            return
        del self._records[futures.sequence_id]
        self._finish_with_error(futures, error)

    def abandon(self, futures: CommandFutures) -> None:
        """Stop tracking one command and cancel its futures (no error is recorded).

        For a command whose sending failed with an exception that the caller
        sees directly, so its futures are never handed out: pending futures are
        cancelled, and an error they already hold (e.g. the connection was
        reset while the write waited) is marked as retrieved, since nobody
        will await them.
        """
        if self._records.get(futures.sequence_id) is futures:
            del self._records[futures.sequence_id]
        futures.abandon()

    def expire(self, now: float) -> list[CommandTimeout]:
        """Fail every command whose deadline is at or before ``now``.

        A command without its ACK fails with `CommandTimeout` whose
        ``delivered`` is ``"unknown"`` (the owner should then abort the
        connection: see `connection_aborted`); an acknowledged one whose DONE
        is late, with ``delivered="yes"``.

        Parameters
        ----------
        now : `float`
            The current time [s].

        Returns
        -------
        errors : `list` [`CommandTimeout`]
            One per command that timed out, in deadline order.
        """
        heap = self._deadlines
        records = self._records
        errors: list[CommandTimeout] = []
        while heap and heap[0][0] <= now:
            when, _, futures = heapq.heappop(heap)
            if futures.deadline != when or records.get(futures.sequence_id) is not futures:
                continue  # stale
            del records[futures.sequence_id]
            errors.append(self._time_out(futures))
        return errors

    def connection_lost(self, cause: BaseException | None = None) -> None:
        """Fail every command in flight with `ConnectionClosedError`, at once.

        Each pending future gets its own `ConnectionClosedError` whose
        ``__cause__`` is ``cause``. Afterwards `start` raises
        `ConnectionClosedError`. Idempotent: later calls do nothing.

        Parameters
        ----------
        cause : `BaseException` or `None`
            Why the connection ended (e.g. the `ConnectionError` raised by a
            read), or `None` for a deliberate close.
        """
        reason = "closed" if cause is None else "lost"

        def error(futures: CommandFutures) -> BaseException:
            return ConnectionClosedError(
                f"connection {reason} before {type(futures.command).__name__} "
                f"(sequence_id={futures.sequence_id}) finished"
            )

        self._close(ConnectionClosedError(f"connection {reason}"), cause, error)

    def connection_aborted(self, cause: BaseException) -> None:
        """The connection is being reset after an ACK timeout: fail every command in flight.

        Each command still in flight fails with its own `CommandTimeout`
        chained to ``cause``: ``delivered="unknown"`` before its ACK (it may or
        may not have reached the controller, and the reset discards it if it
        has not), ``"yes"`` after it. Afterwards `start` raises
        `ConnectionClosedError`. Idempotent, like `connection_lost`.

        Parameters
        ----------
        cause : `BaseException`
            The ACK timeout that led to the abort.
        """

        def error(futures: CommandFutures) -> BaseException:
            name = type(futures.command).__name__
            if futures.acked:
                return CommandTimeout(
                    f"connection reset before the DONE of {name} "
                    f"(sequence_id={futures.sequence_id}): it was acknowledged",
                    delivered="yes",
                )
            return CommandTimeout(
                f"connection reset before the ACK of {name} "
                f"(sequence_id={futures.sequence_id}): outcome unknown",
                delivered="unknown",
            )

        self._close(ConnectionClosedError("connection reset after an ACK timeout"), cause, error)

    def _close(
        self,
        closed_error: ConnectionClosedError,
        cause: BaseException | None,
        make_error: Callable[[CommandFutures], BaseException],
    ) -> None:
        if self._closed_error is not None:
            return
        closed_error.__cause__ = cause
        self._closed_error = closed_error
        records = list(self._records.values())
        self._records.clear()
        self._deadlines.clear()
        if records:
            self.log.warning(
                "commands_failed_on_disconnect",
                in_flight=len(records),
                cause=repr(cause),
                reason=str(closed_error),
            )
        for futures in records:
            error = make_error(futures)
            error.__cause__ = cause
            self._finish_with_error(futures, error)

    # --- replies ---------------------------------------------------------------

    def handle_reply(self, reply: Reply, now: float | None = None) -> bool:
        """Feed one reply; return False if it does not answer a command.

        ACK, NOACK and DONE are handled (see `handle_ack`, `handle_noack`,
        `handle_done`) and True is returned, even when their sequence id is
        unknown. Unsolicited replies are left alone and False is returned.
        ``now`` [s] sets the DONE deadline of an ACK (`None`: the loop's time).
        """
        handler = self._handlers.get(type(reply))
        if handler is None:
            return False
        handler(reply, now)  # type: ignore[operator]
        return True

    def handle_ack(self, reply: AckReply, now: float | None = None) -> None:
        """Handle an ACK: resolve ``ack`` and start waiting for DONE.

        An ack-only command is done on its ACK. The DONE deadline is ``now``
        plus `policy.done_timeout` (`None`: the loop's time).
        """
        futures = self._records.get(reply.sequence_id)
        if futures is None or futures.acked:
            self._unknown(reply, "duplicate_ack" if futures is not None else "unknown_command")
            return
        futures.acknowledge(reply.timeout_ms / 1000.0)
        if futures.command.ack_only or futures.done.done():
            # Done on ACK, or nobody waits for DONE any more (cancelled).
            del self._records[reply.sequence_id]
            futures.finish()
            return
        if now is None:
            now = futures.done.get_loop().time()
        self._set_deadline(futures, now + done_timeout(reply.timeout_ms, self.done_margin))

    def handle_noack(self, reply: NoAckReply, now: float | None = None) -> None:
        """Handle a NOACK: fail the command (see `policy.noack_exception`)."""
        futures = self._records.pop(reply.sequence_id, None)
        if futures is None:
            self._unknown(reply, "unknown_command")
            return
        error = noack_exception(reply.explanation)
        error.add_note(
            f"{type(futures.command).__name__} (sequence_id={futures.sequence_id}) "
            f"{'after' if futures.acked else 'before'} its ACK"
        )
        self.log.info(
            "command_rejected",
            command=type(futures.command).__name__,
            sequence_id=futures.sequence_id,
            acked=futures.acked,
            explanation=reply.explanation,
        )
        self._finish_with_error(futures, error)

    def handle_done(self, reply: DoneReply, now: float | None = None) -> None:
        """Handle a DONE: the command finished.

        A DONE with no ACK before it also resolves ``ack`` (to 0.0 s).
        """
        futures = self._records.pop(reply.sequence_id, None)
        if futures is None:
            self._unknown(reply, "unknown_command")
            return
        if not futures.acked:
            self.log.warning(
                "done_before_ack",
                command=type(futures.command).__name__,
                sequence_id=futures.sequence_id,
            )
            futures.acknowledge(0.0)
        futures.finish()

    # --- internals -------------------------------------------------------------

    def _set_deadline(self, futures: CommandFutures, when: float) -> None:
        futures.set_deadline(when)
        heap = self._deadlines
        heapq.heappush(heap, (when, next(self._tiebreak), futures))
        if len(heap) > 2 * len(self._records) + 64:
            # Mostly stale entries: rebuild from the records (amortised O(1)).
            self._deadlines = [
                (deadline, next(self._tiebreak), f)
                for f in self._records.values()
                if (deadline := f.deadline) is not None
            ]
            heapq.heapify(self._deadlines)

    def _unknown(self, reply: AckReply | NoAckReply | DoneReply, why: str) -> None:
        self.unknown_replies += 1
        if not should_log_occurrence(self.unknown_replies):
            return
        self.log.warning(
            "reply_ignored",
            why=why,
            reply=type(reply).__name__,
            sequence_id=reply.sequence_id,
            unknown_replies=self.unknown_replies,
        )

    def _time_out(self, futures: CommandFutures) -> CommandTimeout:
        """Fail one command whose deadline passed (no ACK, or no DONE after the ACK)."""
        name = type(futures.command).__name__
        if futures.acked:
            ack = futures.ack
            estimate = ack.result() if ack.done() and not ack.cancelled() else 0.0
            what, delivered = "DONE", "yes"
            within = f"{estimate:.3g} s (ACK timeout_ms) + {self.done_margin:.3g} s (margin)"
        else:
            what, delivered = "ACK", "unknown"
            within = f"{self.ack_timeout:.3g} s"
        self.log.warning(f"{what.lower()}_timeout", command=name, sequence_id=futures.sequence_id)
        error = CommandTimeout(
            f"no {what} for {name} (sequence_id={futures.sequence_id}) within {within}",
            delivered=delivered,
        )
        self._finish_with_error(futures, error)
        return error

    @staticmethod
    def _finish_with_error(futures: CommandFutures, error: BaseException) -> None:
        """Fail the pending futures of one finished record; exactly one carries it."""
        futures.fail(error)
