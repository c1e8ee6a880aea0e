"""The one log throttle (mountcomm.throttle): the count rule and the timed form (pure)."""

from __future__ import annotations

import math

import pytest

from mountcomm.sim import throttle as sim_throttle
from mountcomm.throttle import LogThrottle, should_log_occurrence


def test_the_first_then_every_nth() -> None:
    logged = [n for n in range(1, 5001) if should_log_occurrence(n)]
    assert logged == [*range(1, 11), 1000, 2000, 3000, 4000, 5000]
    assert [n for n in range(1, 8) if should_log_occurrence(n, first=1, every=3)] == [1, 3, 6]
    assert [n for n in range(1, 8) if should_log_occurrence(n, first=2, every=None)] == [1, 2]


def test_a_throttle_without_end_applies_the_count_rule() -> None:
    throttle = LogThrottle(burst=2, period=math.inf, every=5)
    decisions = [throttle.event(float(t)) for t in range(1, 21)]
    logged = [n for n, (log, _) in enumerate(decisions, 1) if log]
    assert logged == [n for n in range(1, 21) if should_log_occurrence(n, 2, 5)]
    # each line logged after the burst reports what was left out since the last one
    assert [summary for log, summary in decisions if log] == [0, 0, 2, 4, 4, 4]
    assert throttle.flush() == 0
    assert throttle.total == 20


def test_every_counts_within_a_period() -> None:
    throttle = LogThrottle(burst=1, period=10.0, every=3)
    assert [throttle.event(0.0)[0] for _ in range(6)] == [True, False, True, False, False, True]
    assert throttle.event(9.0) == (False, 0)
    assert throttle.event(10.0) == (True, 1)  # a new period: logged, with the count


def test_bad_every() -> None:
    with pytest.raises(ValueError, match="every"):
        LogThrottle(every=0)


def test_the_simulator_uses_the_same_throttle() -> None:
    assert sim_throttle.LogThrottle is LogThrottle
