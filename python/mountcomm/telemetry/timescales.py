"""TAI and UTC: which timestamps are which, and the conversion.

* Replies (``timestamp`` of ACK, DONE, ERROR, …) and commands carry **UTC** unix
  seconds, like `time.time`.
* Telemetry samples (``timestamp``) and tracking targets (``tai`` of
  ``*_TRACK`` commands) carry **TAI** unix seconds: UTC plus `TAI_MINUS_UTC`.

Pure: no asyncio, no sockets.

Limits
------
The conversion uses one fixed offset, `TAI_MINUS_UTC` = 37 s, in force since
`TAI_MINUS_UTC_SINCE` (2017-01-01T00:00:00Z, after the leap second at the end
of 2016). It is exact from then until the next leap second (none has been
announced); for earlier instants it is off by the leap seconds inserted since
(36 s from mid-2015, 35 s from mid-2012, …). There is no leap-second table and no
astropy dependency; unix seconds ignore leap seconds, so an instant inside a
leap second has no unique unix time anyway.
"""

from __future__ import annotations

__all__ = [
    "TAI_MINUS_UTC",
    "TAI_MINUS_UTC_SINCE",
    "format_utc",
    "tai_now",
    "tai_to_utc",
    "utc_to_tai",
]

import datetime
import time

TAI_MINUS_UTC = 37.0
"""TAI - UTC [s], in force since `TAI_MINUS_UTC_SINCE`."""

TAI_MINUS_UTC_SINCE = 1483228800.0
"""2017-01-01T00:00:00Z as UTC unix seconds: since then TAI - UTC = 37 s."""


def tai_to_utc(tai: float) -> float:
    """Convert TAI unix seconds (telemetry ``timestamp``) to UTC unix seconds.

    Exact for instants since `TAI_MINUS_UTC_SINCE`; see the module notes.
    """
    return float(tai) - TAI_MINUS_UTC


def utc_to_tai(utc: float) -> float:
    """Convert UTC unix seconds (reply ``timestamp``, `time.time`) to TAI unix seconds.

    Exact for instants since `TAI_MINUS_UTC_SINCE`; see the module notes.
    """
    return float(utc) + TAI_MINUS_UTC


def tai_now() -> float:
    """The current time as TAI unix seconds (from the system clock)."""
    return utc_to_tai(time.time())


def format_utc(utc: float, *, date: bool = True) -> str:
    """Format UTC unix seconds as ISO 8601 with milliseconds and a ``Z``.

    Parameters
    ----------
    utc : `float`
        UTC unix seconds.
    date : `bool`, optional
        Include the date (``2026-12-01T20:15:03.123Z``); if False, only the
        time of day (``20:15:03.123Z``).
    """
    moment = datetime.datetime.fromtimestamp(utc, datetime.UTC)
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text if date else text.partition("T")[2]
