"""The decisions of a `ClientServerPair`, as pure functions (no I/O, no event loop).

The pair's asyncio glue observes what happens and asks here what it means:
which event a lost client connection is for the state machine
(`loss_event`), which failed attempts are worth a log line
(`should_log_attempt`). When to retry is `mountcomm.net.retry.RetryDelays`; what
is reported to ``connect_callback`` is `ConnectionChange.calls_back`.
"""

from __future__ import annotations

__all__ = ["ATTEMPT_LOG_EVERY", "loss_event", "should_log_attempt"]

from .client_state import ConnectorEvent
from .retry import should_log_occurrence

ATTEMPT_LOG_EVERY = 50
"""Repeated connection failures are logged on the first attempt and every this many."""


def loss_event(auto_reconnect: bool) -> ConnectorEvent:
    """The event a client connection ended by the peer (or a failure) is.

    ``INTERRUPTED`` (the state machine goes to RECONNECTING and the glue
    starts the reconnection) with ``auto_reconnect``, else ``LOST`` (IDLE).
    """
    return ConnectorEvent.INTERRUPTED if auto_reconnect else ConnectorEvent.LOST


def should_log_attempt(count: int) -> bool:
    """True if the ``count``-th failed attempt in a row (1 …) deserves a log line."""
    return should_log_occurrence(count, first=1, every=ATTEMPT_LOG_EVERY)
