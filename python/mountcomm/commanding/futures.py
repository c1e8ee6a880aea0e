"""`CommandFutures`: the ACK and DONE futures of one command in flight.

Made and resolved by `CommandTracker` (see `mountcomm.commanding.tracker` for
which reply or event resolves which future); held and awaited by callers.
"""

from __future__ import annotations

__all__ = ["CommandFutures"]

import asyncio

from ..protocol.commands import Command


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

    __slots__ = ("_acked", "_deadline", "ack", "command", "done", "sequence_id")

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
        self._deadline: float | None = None

    @property
    def acked(self) -> bool:
        """True once the ACK (or a DONE standing in for it) has arrived."""
        return self._acked

    @property
    def deadline(self) -> float | None:
        """When the command times out (its ACK's or its DONE's deadline) [s, loop clock].

        `None` once the command is finished.
        """
        return self._deadline

    # --- resolution, by the tracker (see `mountcomm.commanding.tracker`) ---------------

    def set_deadline(self, when: float | None) -> None:
        """Set when the command times out [s, loop clock]; `None`: it is finished."""
        self._deadline = when

    def acknowledge(self, timeout: float) -> None:
        """The ACK (or a DONE standing in for it) arrived: resolve ``ack`` to ``timeout`` [s].

        A cancelled ``ack`` is left alone (nobody waits for it any more).
        """
        self._acked = True
        if not self.ack.done():
            self.ack.set_result(timeout)

    def finish(self) -> None:
        """The command is done: resolve ``done`` (unless cancelled); no deadline left."""
        self._deadline = None
        if not self.done.done():
            self.done.set_result(None)

    def fail(self, error: BaseException) -> None:
        """Fail the pending futures with ``error``; exactly one of them carries it.

        ``ack`` carries it if still pending; ``done`` then fails with the same
        error marked as retrieved (see the class notes). No deadline is left.
        """
        self._deadline = None
        carried = False
        if not self.ack.done():
            self.ack.set_exception(error)
            carried = True
        if not self.done.done():
            self.done.set_exception(error)
            if carried:
                self.done.exception()  # mark retrieved: ``ack`` carries the error

    def abandon(self) -> None:
        """Cancel the pending futures and mark a held error as retrieved (never handed out)."""
        self._deadline = None
        for future in (self.ack, self.done):
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # never handed out: nobody will look at it

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
        # ``done`` settles last and fails with the error of a failed ``ack``: one
        # wait for it is enough, and the task wakes once per command.
        ack = self.ack
        try:
            await self.done
        except asyncio.CancelledError:
            ack.cancel()
            self.done.cancel()
            raise
        except BaseException:
            if ack.done() and not ack.cancelled():
                ack.exception()  # the same error, handed out through ``done``
            raise
        return ack.result()

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
