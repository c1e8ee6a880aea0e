"""`FrameLog`: write a record of every relayed frame to a recording file."""

from __future__ import annotations

__all__ = ["FrameLog"]

import os
from typing import Any

from .._lifecycle import Closing
from ..protocol.enums import Source
from ..telemetry.frames import Direction, FrameRecords
from ..telemetry.record import Recorder


class FrameLog(Closing):
    """Append one JSON line per frame to a recording (see `mountcomm.telemetry.frames`).

    Parameters
    ----------
    path : `str` or `os.PathLike`
        The recording; created if missing, appended to otherwise.

    Attributes
    ----------
    written : `int`
        Records written.

    Raises
    ------
    OSError
        If the file cannot be opened.

    Notes
    -----
    Each record reaches the file as one line-buffered ``write``, so that what
    is recorded survives the process being killed; `close` is idempotent.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._recorder = Recorder(path)
        self._records = FrameRecords()
        self.path = self._recorder.path

    @property
    def written(self) -> int:
        """Records written so far."""
        return self._recorder.written

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._recorder.closed

    def frame(
        self,
        direction: Direction,
        role: Source | None,
        data: bytes,
        utc: float,
        mono: float,
        error: str | None = None,
        **extra: Any,
    ) -> None:
        """Record one frame (``error``: why it is not parsed, e.g. a part of a frame)."""
        if self.closed:
            return
        record = self._records.record(direction, role, data, utc, mono, error=error, **extra)
        self._recorder.write(record)

    def close(self) -> None:
        """Flush and close the file. Idempotent."""
        self._recorder.close()
