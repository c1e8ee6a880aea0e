"""`LogThrottle`, the package's one log throttle, under its older name.

It lives in `mountcomm.throttle`; this module re-exports it.
"""

from __future__ import annotations

__all__ = ["LogThrottle"]

from ..throttle import LogThrottle
