"""Retry policy for connecting: pure functions, no I/O.

The one retry policy of the package: every reconnect loop (the client half of
a pair, the registry client and its resumption, the blocking `PortManager`,
the simulator's console ports, the cluster's etcd link, the telemetry client)
takes its delays from a `RetryPolicy`: a `backoff` generator for a loop that
only counts failed attempts, a `RetryDelays` tracker for one that also
remembers how long each connection lived. Nothing here sleeps or touches a
socket, so blocking code uses it as asyncio code does (``time.sleep`` instead
of ``asyncio.sleep``).

``should_log_occurrence`` (which of many repeated failures gets a log line) is
re-exported here from `mountcomm.throttle`, where the one log throttle lives.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_STABLE_CONNECTION_TIME",
    "RetryDelays",
    "RetryPolicy",
    "backoff",
    "should_log_occurrence",
]

import math
import random
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from ..throttle import should_log_occurrence


def backoff(
    initial: float,
    *,
    factor: float = 1.0,
    maximum: float | None = None,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield the delays between successive connection attempts [s].

    Parameters
    ----------
    initial : `float`
        First delay [s]. Must be positive.
    factor : `float`, optional
        Each delay is the previous one times ``factor`` (≥ 1). The default, 1,
        retries at a constant interval, as the original implementation did.
    maximum : `float` or `None`, optional
        Cap on the delay before jitter [s]; `None`: no cap.
    jitter : `float`, optional
        Fraction in [0, 1]: each delay is multiplied by a random number in
        ``[1 - jitter, 1]``, so that many clients do not retry in lockstep.
    rng : `random.Random`, optional
        Source of randomness (for reproducible tests).

    Raises
    ------
    ValueError
        If an argument is out of range.
    """
    if initial <= 0:
        raise ValueError(f"initial must be positive, got {initial}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if maximum is not None and maximum < initial:
        raise ValueError(f"maximum ({maximum}) must be >= initial ({initial})")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be in [0, 1], got {jitter}")
    # A generator of its own only when drawn from (a Random holds 2.5 KB of state).
    rand = rng or (random.Random() if jitter else None)
    delay = initial
    while True:
        yield delay * (1 - jitter * rand.random()) if jitter and rand is not None else delay
        delay *= factor
        if maximum is not None and delay > maximum:
            delay = maximum


DEFAULT_STABLE_CONNECTION_TIME = 1.0
"""A connection that lived at least this long [s] resets the retry delays."""


class RetryDelays:
    """The delays a reconnecting client owes, carried across connections.

    Pure policy, no I/O. A failed attempt on an address, or a connection to it
    that ended sooner than ``stable_time`` after it was made (a peer that
    accepts and closes at once), makes the next attempt *on the same address*
    wait the next delay of the backoff; only a connection that lived
    ``stable_time`` or longer starts the backoff afresh. An attempt on another
    address (a peer found again by name on a new port) waits nothing, and
    neither does the first attempt.

    Parameters
    ----------
    make_delays : callable
        Returns a fresh delay iterator (e.g. a `backoff`); called lazily, at the
        first delay after each reset, so it sees the current settings.
    stable_time : `float`
        Lifetime [s] from which a connection resets the delays (≥ 0).

    Raises
    ------
    ValueError
        If ``stable_time`` is negative or not finite.
    """

    __slots__ = ("_delays", "_failed", "_make", "stable_time")

    def __init__(self, make_delays: Callable[[], Iterator[float]], stable_time: float) -> None:
        if not (isinstance(stable_time, int | float) and math.isfinite(stable_time)) or (
            stable_time < 0
        ):
            raise ValueError(f"stable_time must be a finite number >= 0, got {stable_time!r}")
        self._make = make_delays
        self.stable_time = float(stable_time)
        self._delays: Iterator[float] | None = None
        self._failed: Hashable | None = None  # the address that owes a delay

    def owed(self, address: Hashable) -> bool:
        """True if the next attempt on ``address`` must first wait `next_delay`."""
        return self._failed is not None and self._failed == address

    def next_delay(self, address: Hashable) -> float:
        """The delay to wait before the next attempt on ``address`` [s] (0 if none)."""
        if not self.owed(address):
            return 0.0
        if self._delays is None:
            self._delays = self._make()
        return next(self._delays)

    def attempt_failed(self, address: Hashable) -> None:
        """An attempt on ``address`` failed (refused, self-connected, closed at once)."""
        self._failed = address

    def connected(self) -> None:
        """An attempt succeeded: the connection is up."""
        self._failed = None

    def connection_ended(self, address: Hashable, lifetime: float) -> None:
        """The connection to ``address`` ended after ``lifetime`` [s]."""
        if lifetime >= self.stable_time:
            self._delays = None
            self._failed = None
        else:
            self._failed = address


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The settings of one reconnect loop: its backoff and its stable time.

    Parameters
    ----------
    initial : `float`
        First delay [s] (> 0).
    factor : `float`
        Growth of the delay from one failed attempt to the next (≥ 1).
    maximum : `float` or `None`
        Cap on the delay [s]; `None`: no cap.
    jitter : `float`
        Fraction in [0, 1] by which each delay is shortened at random.
    stable_time : `float`
        Lifetime [s] from which a connection resets the backoff (see
        `RetryDelays`).

    Raises
    ------
    ValueError
        If a setting is out of range (checked when the policy is made).

    Examples
    --------
    >>> policy = RetryPolicy(0.1, factor=2, maximum=0.3)
    >>> delays = policy.delays()
    >>> [round(next(delays), 3) for _ in range(4)]
    [0.1, 0.2, 0.3, 0.3]
    """

    initial: float
    factor: float = 2.0
    maximum: float | None = None
    jitter: float = 0.0
    stable_time: float = DEFAULT_STABLE_CONNECTION_TIME

    def __post_init__(self) -> None:
        next(self.delays())  # checks the backoff settings
        RetryDelays(self.delays, self.stable_time)  # checks stable_time

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """A fresh iterator of the delays between failed attempts [s] (see `backoff`)."""
        return backoff(
            self.initial, factor=self.factor, maximum=self.maximum, jitter=self.jitter, rng=rng
        )

    def tracker(self) -> RetryDelays:
        """A fresh `RetryDelays` with this backoff and stable time."""
        return RetryDelays(self.delays, self.stable_time)
