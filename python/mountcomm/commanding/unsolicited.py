"""Delivery of unsolicited replies (ERROR, WARNING, IN_POSITION, ON_STATE_INFO).

An `UnsolicitedReplies` is one subscriber's bounded queue, iterated with
``async for``. `UnsolicitedDispatcher` fans every unsolicited reply out to the
subscribers and to plain callbacks; it does no I/O and starts no task.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_UNSOLICITED_QUEUE",
    "UnsolicitedCallback",
    "UnsolicitedDispatcher",
    "UnsolicitedReplies",
]

import asyncio
import contextlib
import inspect
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Self

from ..exceptions import ConnectionClosedError
from ..log import Logger
from ..protocol.replies import Reply

DEFAULT_UNSOLICITED_QUEUE = 1000
"""Default number of replies a subscriber may fall behind before the oldest are dropped."""

UnsolicitedCallback = Callable[[Reply], Any]
"""``callback(reply)``: a plain function, called as the reply arrives; must not block."""


class UnsolicitedReplies:
    """One subscription to the unsolicited replies of a `MountClient`.

    Made by `MountClient.unsolicited`; receives every unsolicited reply from the
    moment it is made (not from the first ``async for`` step), so none is missed.

    Parameters
    ----------
    maxsize : `int`
        How many replies may wait in the queue; when it is full the oldest is
        dropped (and counted in `dropped`), so memory stays bounded.
    on_close : callable or `None`
        Called with this subscription by `close`.

    Attributes
    ----------
    dropped : `int`
        Replies dropped because the consumer fell more than ``maxsize`` behind.

    Notes
    -----
    Iteration ends normally after the client is closed with `MountClient.close`
    and raises `ConnectionClosedError` (chained to the cause) after the
    connection was lost; in both cases replies already queued are delivered
    first. Cancelling ``__anext__`` is safe: no reply is lost. Use as
    ``async with mount.unsolicited() as replies:`` to unsubscribe on exit.

    One subscription has one consumer: a second task that waits on it while
    another does raises `RuntimeError` (it would otherwise take the first's
    place and leave it waiting forever). For several consumers make several
    subscriptions: each gets every reply, in its own bounded queue.
    """

    __slots__ = (
        "__weakref__",
        "_end",
        "_ended",
        "_maxsize",
        "_on_close",
        "_queue",
        "_waiter",
        "dropped",
    )

    def __init__(
        self,
        maxsize: int = DEFAULT_UNSOLICITED_QUEUE,
        on_close: Callable[[UnsolicitedReplies], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._queue: deque[Reply] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._end: BaseException | None = None
        self._on_close = on_close
        self.dropped = 0

    def put(self, reply: Reply) -> None:
        """Queue one reply (dropping the oldest if full) and wake the consumer."""
        if self._ended:
            return
        queue = self._queue
        if len(queue) >= self._maxsize:
            queue.popleft()
            self.dropped += 1
        queue.append(reply)
        self._wake()

    def end(self, error: BaseException | None = None) -> None:
        """End the iteration after the queued replies; raise ``error`` then, if given.

        Idempotent: the first call wins.
        """
        if self._ended:
            return
        self._ended = True
        self._end = error
        self._wake()

    def close(self) -> None:
        """Unsubscribe and end the iteration (queued replies are discarded). Idempotent."""
        self._queue.clear()
        self.end()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __len__(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Reply:
        """Return the next unsolicited reply, waiting for one if needed.

        Raises
        ------
        StopAsyncIteration
            After `close`, or once the client was closed and the queue is empty.
        ConnectionClosedError
            Once the connection was lost and the queue is empty.
        RuntimeError
            If another task is already waiting on this subscription: each
            consumer needs its own (call `MountClient.unsolicited` once per
            consumer; every subscription receives every reply).
        """
        if self._waiter is not None:
            raise RuntimeError(
                "another task is already waiting on this unsolicited-reply subscription; "
                "give each consumer its own: call MountClient.unsolicited() once per consumer"
            )
        queue = self._queue
        while not queue:
            if self._ended:
                error = self._end
                if error is not None:
                    self._end = None  # raise it once; later calls stop quietly
                    raise error
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return queue.popleft()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class UnsolicitedDispatcher:
    """Fan unsolicited replies out to subscriptions and callbacks.

    Parameters
    ----------
    log : structlog logger
        Where failing callbacks are logged.
    """

    def __init__(self, log: Logger) -> None:
        self.log = log
        self._subscriptions: weakref.WeakSet[UnsolicitedReplies] = weakref.WeakSet()
        self._callbacks: list[UnsolicitedCallback] = []
        self._ended = False
        self._end_cause: BaseException | None = None
        self._end_lost = False

    def subscribe(self, maxsize: int = DEFAULT_UNSOLICITED_QUEUE) -> UnsolicitedReplies:
        """Return a new subscription (already ended if the dispatcher has ended)."""
        subscription = UnsolicitedReplies(maxsize, self._subscriptions.discard)
        if self._ended:
            subscription.end(self._make_end_error())
        else:
            self._subscriptions.add(subscription)
        return subscription

    def add_callback(self, callback: UnsolicitedCallback) -> None:
        """Call ``callback(reply)`` for every unsolicited reply from now on.

        The callback runs as the reply arrives (in the transport's callback): it
        must be quick and must not block.
        Its exceptions are logged, never raised. A coroutine function is not
        accepted (use `subscribe` to consume replies in a task).
        """
        if inspect.iscoroutinefunction(callback):
            raise TypeError("the unsolicited callback must be a plain function, not a coroutine")
        self._callbacks.append(callback)

    def remove_callback(self, callback: UnsolicitedCallback) -> None:
        """Stop calling ``callback``. Does nothing if it is not registered."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def dispatch(self, reply: Reply) -> None:
        """Deliver one reply to every callback and subscription."""
        for callback in self._callbacks:
            try:
                callback(reply)
            except Exception:
                self.log.exception("unsolicited_callback_failed", callback=repr(callback))
        for subscription in self._subscriptions:
            subscription.put(reply)

    def end(self, lost: bool, cause: BaseException | None = None) -> None:
        """End every subscription; idempotent (the first call wins).

        Parameters
        ----------
        lost : `bool`
            True if the connection was lost (iterations raise
            `ConnectionClosedError` chained to ``cause``); False for a
            deliberate close (iterations end normally).
        cause : `BaseException` or `None`
            Why the connection was lost.
        """
        if self._ended:
            return
        self._ended = True
        self._end_lost = lost
        self._end_cause = cause
        subscriptions = list(self._subscriptions)
        self._subscriptions = weakref.WeakSet()
        for subscription in subscriptions:
            subscription.end(self._make_end_error())

    def _make_end_error(self) -> BaseException | None:
        if not self._end_lost:
            return None
        error = ConnectionClosedError("connection lost: no more unsolicited replies")
        error.__cause__ = self._end_cause
        return error
