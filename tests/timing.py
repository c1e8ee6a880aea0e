"""The one time unit of the test suite.

Every timeout in the tests is a multiple of :data:`UNIT`, and so is pytest-timeout's
limit (see ``tests/conftest.py``). On a slow or busy machine, give the whole suite more
time with ``MOUNTCOMM_TEST_TIMEOUT_FACTOR`` (default 1)::

    MOUNTCOMM_TEST_TIMEOUT_FACTOR=3 make test

Timeouts bound waits on a peer; they never sequence a test. A test that needs a larger
factor to pass has a race, not a slow machine.
"""

from __future__ import annotations

import os

__all__ = ["FACTOR", "LONG", "UNIT", "T"]


def _factor() -> float:
    text = os.environ.get("MOUNTCOMM_TEST_TIMEOUT_FACTOR", "1")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"MOUNTCOMM_TEST_TIMEOUT_FACTOR must be a positive number, got {text!r}"
        ) from None
    if not value > 0:
        raise ValueError(f"MOUNTCOMM_TEST_TIMEOUT_FACTOR must be positive, got {text!r}")
    return value


#: The multiplier from ``MOUNTCOMM_TEST_TIMEOUT_FACTOR`` (default 1).
FACTOR = _factor()

#: One unit of test time [s]: 1 s times :data:`FACTOR`.
UNIT = 1.0 * FACTOR

#: The usual bound on one wait for a peer [s].
T = 5 * UNIT

#: The bound on a wait that includes starting a process or an etcd [s].
LONG = 20 * UNIT
