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
connection lost        ``ack`` fails: `ConnectionClosedError` ``done`` fails: same
=====================  ====================================  ==============================

The tracker does no I/O and starts no task: its only contact with the event loop is
creating futures and ``loop.call_later`` timers, so it is tested by feeding replies.
"""

from __future__ import annotations

__all__ = ["CommandFutures", "CommandTracker"]

import asyncio
from typing import Any

from ..exceptions import CommandTimeout, ConnectionClosedError
from ..log import get_logger
from ..protocol.commands import Command
from ..protocol.replies import AckReply, DoneReply, NoAckReply, Reply
from ..protocol.sequence import SequenceIdGenerator
from .policy import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DONE_MARGIN,
    done_timeout,
    noack_exception,
    should_log_occurrence,
)


class CommandFutures:
    """The futures of one command sent to the controller.

    Made by `CommandTracker.start` (and `MountClient.send`); never replaced while
    the command is in flight, so any number of tasks may hold and await them.

    Attributes
    ----------
    command : `Command`
        The command, with its ``sequence_id`` set.
    sequence_id : `int`
        The command's sequence id.
    ack : `asyncio.Future` [`float`]
        Result: the ACK's ``timeout_ms`` in seconds, the controller's estimate of
        how long the command takes [s]. Fails if the command fails before its ACK
        (`CommandRejected`, `CommandTimeout`, `ConnectionClosedError`).
    done : `asyncio.Future` [`None`]
        Result `None` when the command is done: on DONE, or on ACK for an
        ack-only command. Fails if the command fails after its ACK
        (`CommandRejected`, `CommandSuperseded`, `CommandTimeout`,
        `ConnectionClosedError`).

    Notes
    -----
    Exactly one future is responsible for an error, so an error is never reported
    as "exception was never retrieved" twice: the first future still pending
    when the command fails (``ack`` before the ACK, ``done`` after it). When
    ``ack`` fails, ``done`` fails with the *same* exception but marked as
    retrieved, so awaiting ``done`` alone still raises the real error (it never
    hangs and never raises `asyncio.CancelledError`), while only ``ack`` can
    complain if nobody looks at it. The simplest correct use is `wait`.

    Cancelling a future (for instance through `asyncio.wait_for` on it) is safe:
    the tracker ignores later replies for a cancelled future. The command itself
    is not withdrawn from the controller.
    """

    __slots__ = ("_acked", "_timer", "ack", "command", "done", "sequence_id")

    def __init__(
        self,
        command: Command,
        sequence_id: int,
        ack: asyncio.Future[float],
        done: asyncio.Future[None],
    ) -> None:
        self.command = command
        self.sequence_id = sequence_id
        self.ack = ack
        self.done = done
        self._acked = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def acked(self) -> bool:
        """True once the ACK (or a DONE standing in for it) has arrived."""
        return self._acked

    async def wait(self) -> float:
        """Wait until the command is done.

        Returns
        -------
        timeout : `float`
            The ACK's ``timeout_ms`` [s].

        Raises
        ------
        CommandRejected
            The controller answered NOACK (`CommandSuperseded` if a newer command
            replaced this one).
        CommandTimeout
            No ACK within the ack timeout, or no DONE in time after the ACK.
        ConnectionClosedError
            The connection was lost or closed before the command was done.

        Notes
        -----
        Cancelling ``wait`` abandons the command: it cancels both futures (so a
        later failure is not reported as "exception was never retrieved") and
        re-raises `asyncio.CancelledError`. It does not withdraw the command
        from the controller.
        """
        try:
            timeout = await self.ack
            await self.done
        except asyncio.CancelledError:
            self.ack.cancel()
            self.done.cancel()
            raise
        return timeout

    def __repr__(self) -> str:
        state = (
            "done"
            if self.done.done()
            else "acked"
            if self._acked
            else "failed"
            if self.ack.done()
            else "sent"
        )
        return (
            f"CommandFutures({type(self.command).__name__}, "
            f"sequence_id={self.sequence_id}, {state})"
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
    first_sequence_id : `int`, optional
        The first sequence id to assign (1 … 2**31 - 1).

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
    """

    def __init__(
        self,
        *,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        done_margin: float = DEFAULT_DONE_MARGIN,
        log: Any = None,
        first_sequence_id: int = 1,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 s, got {ack_timeout}")
        if done_margin < 0:
            raise ValueError(f"done_margin must be >= 0 s, got {done_margin}")
        self.ack_timeout = ack_timeout
        self.done_margin = done_margin
        self.log = get_logger(log, "CommandTracker")
        self.unknown_replies = 0
        self._ids = SequenceIdGenerator(first_sequence_id)
        self._records: dict[int, CommandFutures] = {}
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
        """True after `connection_lost`; `start` then raises."""
        return self._closed_error is not None

    def get(self, sequence_id: int) -> CommandFutures | None:
        """Return the record of a command in flight, or `None`."""
        return self._records.get(sequence_id)

    # --- starting and ending commands ------------------------------------------

    def start(self, command: Command) -> CommandFutures:
        """Assign a sequence id to ``command`` and start tracking it.

        Sets ``command.sequence_id`` and starts the ack timer. Call this just
        before writing the command; if the write fails, call `fail` (or
        `connection_lost`).

        Parameters
        ----------
        command : `Command`
            The command to track. Its ``sequence_id`` is overwritten.

        Returns
        -------
        futures : `CommandFutures`
            The command's futures, created on the running loop.

        Raises
        ------
        ConnectionClosedError
            After `connection_lost`, chained to its cause.
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
        futures._timer = loop.call_later(self.ack_timeout, self._ack_timed_out, futures)
        self._records[sequence_id] = futures
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
        sees directly, so its futures are never handed out. Does nothing if the
        command is no longer in flight.
        """
        if self._records.get(futures.sequence_id) is not futures:
            return
        del self._records[futures.sequence_id]
        timer = futures._timer
        if timer is not None:
            timer.cancel()
            futures._timer = None
        futures.ack.cancel()
        futures.done.cancel()

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
        if self._closed_error is not None:
            return
        reason = "closed" if cause is None else "lost"
        self._closed_error = ConnectionClosedError(f"connection {reason}")
        self._closed_error.__cause__ = cause
        records = list(self._records.values())
        self._records.clear()
        if records:
            self.log.warning(
                "commands_failed_on_disconnect", in_flight=len(records), cause=repr(cause)
            )
        for futures in records:
            error = ConnectionClosedError(
                f"connection {reason} before {type(futures.command).__name__} "
                f"(sequence_id={futures.sequence_id}) finished"
            )
            error.__cause__ = cause
            self._finish_with_error(futures, error)

    # --- replies ---------------------------------------------------------------

    def handle_reply(self, reply: Reply) -> bool:
        """Feed one reply; return False if it does not answer a command.

        ACK, NOACK and DONE are handled (see `handle_ack`, `handle_noack`,
        `handle_done`) and True is returned, even when their sequence id is
        unknown. Unsolicited replies are left alone and False is returned.
        """
        handler = self._handlers.get(type(reply))
        if handler is None:
            return False
        handler(reply)  # type: ignore[operator]
        return True

    def handle_ack(self, reply: AckReply) -> None:
        """Handle an ACK: resolve ``ack`` and start waiting for DONE.

        An ack-only command is done on its ACK.
        """
        futures = self._records.get(reply.sequence_id)
        if futures is None or futures._acked:
            self._unknown(reply, "duplicate_ack" if futures is not None else "unknown_command")
            return
        futures._acked = True
        timer = futures._timer
        if timer is not None:
            timer.cancel()
        if not futures.ack.done():
            futures.ack.set_result(reply.timeout_ms / 1000.0)
        if futures.command.ack_only or futures.done.done():
            # Done on ACK, or nobody waits for DONE any more (cancelled).
            futures._timer = None
            del self._records[reply.sequence_id]
            if not futures.done.done():
                futures.done.set_result(None)
            return
        futures._timer = futures.done.get_loop().call_later(
            done_timeout(reply.timeout_ms, self.done_margin), self._done_timed_out, futures
        )

    def handle_noack(self, reply: NoAckReply) -> None:
        """Handle a NOACK: fail the command (see `policy.noack_exception`)."""
        futures = self._records.pop(reply.sequence_id, None)
        if futures is None:
            self._unknown(reply, "unknown_command")
            return
        error = noack_exception(reply.explanation)
        error.add_note(
            f"{type(futures.command).__name__} (sequence_id={futures.sequence_id}) "
            f"{'after' if futures._acked else 'before'} its ACK"
        )
        self.log.info(
            "command_rejected",
            command=type(futures.command).__name__,
            sequence_id=futures.sequence_id,
            acked=futures._acked,
            explanation=reply.explanation,
        )
        self._finish_with_error(futures, error)

    def handle_done(self, reply: DoneReply) -> None:
        """Handle a DONE: the command finished.

        A DONE with no ACK before it also resolves ``ack`` (to 0.0 s).
        """
        futures = self._records.pop(reply.sequence_id, None)
        if futures is None:
            self._unknown(reply, "unknown_command")
            return
        timer = futures._timer
        if timer is not None:
            timer.cancel()
            futures._timer = None
        if not futures._acked:
            futures._acked = True
            self.log.warning(
                "done_before_ack",
                command=type(futures.command).__name__,
                sequence_id=futures.sequence_id,
            )
            if not futures.ack.done():
                futures.ack.set_result(0.0)
        if not futures.done.done():
            futures.done.set_result(None)

    # --- internals -------------------------------------------------------------

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

    def _ack_timed_out(self, futures: CommandFutures) -> None:
        futures._timer = None
        if self._records.get(futures.sequence_id) is not futures:
            return
        del self._records[futures.sequence_id]
        name = type(futures.command).__name__
        self.log.warning("ack_timeout", command=name, sequence_id=futures.sequence_id)
        self._finish_with_error(
            futures,
            CommandTimeout(
                f"no ACK for {name} (sequence_id={futures.sequence_id}) "
                f"within {self.ack_timeout:.3g} s"
            ),
        )

    def _done_timed_out(self, futures: CommandFutures) -> None:
        futures._timer = None
        if self._records.get(futures.sequence_id) is not futures:
            return
        del self._records[futures.sequence_id]
        name = type(futures.command).__name__
        self.log.warning("done_timeout", command=name, sequence_id=futures.sequence_id)
        timeout = futures.ack.result() if futures.ack.done() and not futures.ack.cancelled() else 0
        self._finish_with_error(
            futures,
            CommandTimeout(
                f"no DONE for {name} (sequence_id={futures.sequence_id}) within "
                f"{timeout:.3g} s (ACK timeout_ms) + {self.done_margin:.3g} s (margin)"
            ),
        )

    @staticmethod
    def _finish_with_error(futures: CommandFutures, error: BaseException) -> None:
        """Fail the pending futures of one finished record; exactly one carries it."""
        timer = futures._timer
        if timer is not None:
            timer.cancel()
            futures._timer = None
        carried = False
        if not futures.ack.done():
            futures.ack.set_exception(error)
            carried = True
        if not futures.done.done():
            futures.done.set_exception(error)
            if carried:
                futures.done.exception()  # mark retrieved: ``ack`` carries the error
