"""LogThrottle: a burst of lines per period, then a count (pure)."""

from __future__ import annotations

import pytest

from mountcomm.sim.throttle import LogThrottle


def test_a_flood_costs_a_burst_and_a_summary() -> None:
    throttle = LogThrottle(burst=3, period=10.0)
    decisions = [throttle.event(100.0 + i * 0.001) for i in range(1000)]
    assert [log for log, _ in decisions].count(True) == 3
    assert all(summary == 0 for _, summary in decisions)
    assert throttle.flush() == 997
    assert throttle.flush() == 0
    assert throttle.total == 1000


def test_the_count_comes_with_the_next_period() -> None:
    throttle = LogThrottle(burst=1, period=1.0)
    assert throttle.event(0.0) == (True, 0)
    assert throttle.event(0.5) == (False, 0)
    assert throttle.event(0.9) == (False, 0)
    assert throttle.event(1.0) == (True, 2)  # a new period: logged, with the count
    assert throttle.event(5.0) == (True, 0)


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        LogThrottle(burst=-1)
    with pytest.raises(ValueError):
        LogThrottle(period=0.0)
