"""`LogThrottle`: at most a burst of log lines per period, and a count of the rest (pure)."""

from __future__ import annotations

__all__ = ["LogThrottle"]


class LogThrottle:
    """Decide which of many similar events are logged one by one.

    Within each period, the first ``burst`` events are logged individually;
    the rest are only counted, and the count is reported (as one summary line)
    with the first event of a later period, or by `flush`. So N events cost
    at most ``burst`` lines per period plus one summary, whatever N is.

    Parameters
    ----------
    burst : `int`
        Events logged individually per period (>= 0).
    period : `float`
        Length of a period [s] (> 0).

    Attributes
    ----------
    total : `int`
        Events seen.

    Raises
    ------
    ValueError
        If ``burst`` < 0 or ``period`` <= 0.
    """

    def __init__(self, burst: int = 10, period: float = 10.0) -> None:
        if burst < 0 or not period > 0:
            raise ValueError(f"need burst >= 0 and period > 0, got {burst!r} and {period!r}")
        self.burst = burst
        self.period = period
        self.total = 0
        self._window_end = -float("inf")
        self._logged = 0
        self._suppressed = 0

    def event(self, now: float) -> tuple[bool, int]:
        """Count one event at ``now`` [s].

        Returns
        -------
        log : `bool`
            Log this event individually?
        summary : `int`
            Events suppressed in earlier periods, to report now (0: nothing).
        """
        self.total += 1
        summary = 0
        if now >= self._window_end:
            summary = self.flush()
            self._window_end = now + self.period
            self._logged = 0
        if self._logged < self.burst:
            self._logged += 1
            return True, summary
        self._suppressed += 1
        return False, summary

    def flush(self) -> int:
        """Events suppressed and not reported yet (and forget them)."""
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed
