"""The log throttle: many similar events cost a bounded number of log lines (pure).

One rule, in two forms, for every repeated problem the package logs (bad
frames, unknown replies, refused self-connections, failed connection
attempts): the first occurrences are logged one by one, later ones only
sometimes, and what was left out is counted.

* `should_log_occurrence` is the stateless form, for a caller that keeps its
  own count: the first ``first`` occurrences, then every ``every``-th.
* `LogThrottle` is the stateful form: it keeps the count, applies the same rule
  within each period of time (a flood costs a burst per period) and hands back
  how many events it left out, to report in one summary line.

No I/O and no clock: the caller passes the time.
"""

from __future__ import annotations

__all__ = ["LogThrottle", "should_log_occurrence"]

import math


def should_log_occurrence(count: int, first: int = 10, every: int | None = 1000) -> bool:
    """Return True if the ``count``-th occurrence of a repeated problem should be logged.

    A peer that sends nothing but garbage, or a port that keeps refusing, must
    not turn the log into a per-attempt stream: the first ``first``
    occurrences are logged, then one in ``every`` (the log line carries the
    running count).

    Parameters
    ----------
    count : `int`
        How many times the problem has occurred, this one included (1 …).
    first : `int`, optional
        How many occurrences are all logged (≥ 0).
    every : `int` or `None`, optional
        After that, log each ``every``-th occurrence (≥ 1); `None`: none.
    """
    return count <= first or (every is not None and count % every == 0)


class LogThrottle:
    """Decide which of many similar events are logged one by one.

    Within each period, the first ``burst`` events are logged individually
    (and, with ``every``, each ``every``-th event of the period after them:
    the rule of `should_log_occurrence`); the rest are only counted, and the
    count is reported (as one summary line) with the first event of a later
    period or the next event logged, or by `flush`. So N events in one period
    cost at most ``burst`` lines plus ``N / every`` and one summary, whatever
    N is.

    Parameters
    ----------
    burst : `int`
        Events logged individually per period (≥ 0).
    period : `float`
        Length of a period [s] (> 0); `math.inf`: one period that never ends,
        so that the throttle counts occurrences for the life of its owner.
    every : `int` or `None`
        Past the burst, log each ``every``-th event of the period (≥ 1);
        `None` (the default): none until the next period.

    Attributes
    ----------
    total : `int`
        Events seen.

    Raises
    ------
    ValueError
        If ``burst`` < 0, ``period`` <= 0 or ``every`` < 1.

    Examples
    --------
    >>> throttle = LogThrottle(burst=1, period=math.inf, every=3)
    >>> [throttle.event(0.0) for _ in range(4)]
    [(True, 0), (False, 0), (True, 1), (False, 0)]
    """

    __slots__ = (
        "_seen",
        "_suppressed",
        "_window_end",
        "burst",
        "every",
        "period",
        "total",
    )

    def __init__(self, burst: int = 10, period: float = 10.0, every: int | None = None) -> None:
        if burst < 0 or not period > 0:
            raise ValueError(f"need burst >= 0 and period > 0, got {burst!r} and {period!r}")
        if every is not None and every < 1:
            raise ValueError(f"every must be >= 1 or None, got {every!r}")
        self.burst = burst
        self.period = period
        self.every = every
        self.total = 0
        self._window_end = -math.inf
        self._seen = 0  # events in the current period
        self._suppressed = 0

    def event(self, now: float) -> tuple[bool, int]:
        """Count one event at ``now`` [s].

        Returns
        -------
        log : `bool`
            Log this event individually?
        summary : `int`
            Events left out since the last report, to report now (0: nothing):
            given with the first event of a period, and with each event logged.
        """
        self.total += 1
        summary = 0
        if now >= self._window_end:
            summary = self.flush()
            self._window_end = now + self.period
            self._seen = 0
        self._seen += 1
        if should_log_occurrence(self._seen, self.burst, self.every):
            return True, summary + self.flush()
        self._suppressed += 1
        return False, summary

    def flush(self) -> int:
        """Events suppressed and not reported yet (and forget them)."""
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed
