"""Record telemetry, commands and replies as JSON lines, and read them back.

Each line of a recording is one JSON object with a ``type`` and ``utc``, the
time of the event as UTC unix seconds:

``{"type": "telemetry", "utc": …, "sample": {…}}``
    A telemetry sample as received (its ``timestamp`` is TAI; ``utc`` is that
    instant converted with `tai_to_utc`).
``{"type": "command", "utc": …, "name": "ElevationAxisMove", "sequence_id": …, "fields": {…}}``
    A command sent (``utc``: when it was sent).
``{"type": "reply", "utc": …, "code": "ACK", "name": …, "sequence_id": …, …}``
    The outcome of a command (``utc``: when it was known): ``code`` is ``ACK``
    (with ``timeout``, the announced duration [s]), ``DONE``, ``NOACK`` (with
    ``explanation``; ``superseded`` true when a newer command replaced it),
    ``TIMEOUT`` or ``LOST`` (the connection dropped), the last two with
    ``explanation``.
``{"type": "frame", "utc": …, "direction": …, "frame": …, "error": …}``
    A frame relayed by ``mountcomm proxy`` that did not parse. The proxy
    writes every frame it relays, the ones that parse as ``command``,
    ``reply`` or ``telemetry`` records with more keys (the direction, the
    role and the exact frame): see `mountcomm.telemetry.frames`.

Files are opened for appending, one ``write`` per line, so that several
recorders (e.g. ``mountcomm monitor --record`` and a program driving the mount)
may share a file.
"""

from __future__ import annotations

__all__ = ["RECORD_TYPES", "Recorder", "read_record"]

import asyncio
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._lifecycle import Closing
from ..exceptions import CommandRejected, CommandSuperseded, CommandTimeout
from .timescales import tai_to_utc

if TYPE_CHECKING:
    from ..commanding.futures import CommandFutures
    from ..protocol.commands import Command

RECORD_TYPES = ("telemetry", "command", "reply", "frame")


class Recorder(Closing):
    """Append telemetry samples, commands and their replies to a JSON-lines file.

    Parameters
    ----------
    path : `str` or `os.PathLike`
        The file; created if missing, appended to otherwise.

    Raises
    ------
    OSError
        If the file cannot be opened.

    Notes
    -----
    A synchronous context manager; `close` is idempotent. Writes are
    line-buffered: each record reaches the file as one ``write``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self.written = 0

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (a JSON object; ``type`` and ``utc`` expected)."""
        if self._file.closed:
            raise RuntimeError(f"Recorder({self.path}) is closed")
        self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self.written += 1

    def sample(self, sample: Mapping[str, Any]) -> None:
        """Record a telemetry sample (usable as a `TelemetryClient` sample callback)."""
        timestamp = sample.get("timestamp")
        utc = tai_to_utc(timestamp) if isinstance(timestamp, int | float) else time.time()
        self.write({"type": "telemetry", "utc": utc, "sample": sample})

    def command(self, command: Command) -> None:
        """Record a command as sent now."""
        fields = {f.name: getattr(command, f.name) for f in command.field_infos}
        fields.pop("sequence_id", None)
        fields.pop("timestamp", None)
        self.write(
            {
                "type": "command",
                "utc": time.time(),
                "name": type(command).__name__,
                "sequence_id": command.sequence_id,
                "fields": fields,
            }
        )

    def reply(self, code: str, command: Command, **extra: Any) -> None:
        """Record the outcome ``code`` (``ACK``, ``DONE``, ``NOACK``…) of ``command`` now."""
        record = {
            "type": "reply",
            "utc": time.time(),
            "code": code,
            "name": type(command).__name__,
            "sequence_id": command.sequence_id,
        }
        self.write(record | extra)

    def track(self, futures: CommandFutures) -> None:
        """Record a command just sent and, as they come, its ACK and DONE or failure.

        Looking at the futures' outcome marks their exceptions as retrieved;
        the caller still awaits them as usual.
        """
        command = futures.command
        self.command(command)

        def on_ack(future: asyncio.Future[float]) -> None:
            if not future.cancelled():
                error = future.exception()
                if error is None:
                    self.reply("ACK", command, timeout=future.result())
                else:
                    self._failure(command, error)

        def on_done(future: asyncio.Future[None]) -> None:
            ack = futures.ack
            if future.cancelled() or not ack.done() or ack.cancelled() or ack.exception():
                return  # recorded by on_ack
            error = future.exception()
            if error is not None:
                self._failure(command, error)
            elif not command.ack_only:
                self.reply("DONE", command)

        futures.ack.add_done_callback(on_ack)
        futures.done.add_done_callback(on_done)

    def _failure(self, command: Command, error: BaseException) -> None:
        if isinstance(error, CommandRejected):
            superseded = isinstance(error, CommandSuperseded)
            self.reply("NOACK", command, explanation=error.explanation, superseded=superseded)
        elif isinstance(error, CommandTimeout):
            self.reply("TIMEOUT", command, explanation=str(error))
        else:
            self.reply("LOST", command, explanation=f"{type(error).__name__}: {error}")

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._file.closed

    def close(self) -> None:
        """Close the file. Idempotent."""
        self._file.close()


def read_record(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a recording; return its records in file order.

    Blank lines are skipped.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If a line is not a JSON object with a known ``type`` and a numeric
        ``utc`` (the message names the file and line).
    """
    records: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: not JSON ({e})") from None
            if (
                not isinstance(record, dict)
                or record.get("type") not in RECORD_TYPES
                or not isinstance(record.get("utc"), int | float)
            ):
                raise ValueError(
                    f"{path}:{number}: expected an object with a type in {RECORD_TYPES} "
                    "and a numeric utc"
                )
            records.append(record)
    return records
