"""Telemetry for client code: read a mount controller's telemetry stream.

`TelemetryClient` reads the stream (from a real controller or the simulator)
into dicts, one per sample; `TOPIC_FIELDS` documents each topic's fields;
`tai_to_utc` / `utc_to_tai` convert between the TAI timestamps of telemetry and
the UTC timestamps of replies; `Recorder` and `read_record` write and read
JSON-lines recordings, `FrameRecord` the frames recorded by ``mountcomm proxy``;
`TelemetryServer` serves a stream to many clients. See ``doc/telemetry.md``.

Public names are imported lazily, so ``mountcomm.telemetry.codec`` and
``mountcomm.telemetry.timescales`` stay free of asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "AXIS_TOPICS": "mountcomm.telemetry.codec",
    "DRIVE_TOPICS": "mountcomm.telemetry.codec",
    "TOPIC_FIELDS": "mountcomm.telemetry.codec",
    "TopicField": "mountcomm.telemetry.codec",
    "decode_sample": "mountcomm.telemetry.codec",
    "encode_sample": "mountcomm.telemetry.codec",
    "TelemetryTopicId": "mountcomm.protocol.enums",
    "TelemetryClient": "mountcomm.telemetry.client",
    "TelemetryServer": "mountcomm.telemetry.server",
    "Direction": "mountcomm.telemetry.frames",
    "FrameRecord": "mountcomm.telemetry.frames",
    "FrameRecords": "mountcomm.telemetry.frames",
    "Recorder": "mountcomm.telemetry.record",
    "read_record": "mountcomm.telemetry.record",
    "TAI_MINUS_UTC": "mountcomm.telemetry.timescales",
    "TAI_MINUS_UTC_SINCE": "mountcomm.telemetry.timescales",
    "format_utc": "mountcomm.telemetry.timescales",
    "tai_now": "mountcomm.telemetry.timescales",
    "tai_to_utc": "mountcomm.telemetry.timescales",
    "utc_to_tai": "mountcomm.telemetry.timescales",
}

__all__ = [
    "AXIS_TOPICS",
    "DRIVE_TOPICS",
    "TAI_MINUS_UTC",
    "TAI_MINUS_UTC_SINCE",
    "TOPIC_FIELDS",
    "Direction",
    "FrameRecord",
    "FrameRecords",
    "Recorder",
    "TelemetryClient",
    "TelemetryServer",
    "TelemetryTopicId",
    "TopicField",
    "decode_sample",
    "encode_sample",
    "format_utc",
    "read_record",
    "tai_now",
    "tai_to_utc",
    "utc_to_tai",
]

if TYPE_CHECKING:
    from ..protocol.enums import TelemetryTopicId
    from .client import TelemetryClient
    from .codec import (
        AXIS_TOPICS,
        DRIVE_TOPICS,
        TOPIC_FIELDS,
        TopicField,
        decode_sample,
        encode_sample,
    )
    from .frames import Direction, FrameRecord, FrameRecords
    from .record import Recorder, read_record
    from .server import TelemetryServer
    from .timescales import (
        TAI_MINUS_UTC,
        TAI_MINUS_UTC_SINCE,
        format_utc,
        tai_now,
        tai_to_utc,
        utc_to_tai,
    )

__getattr__, __dir__ = lazy_attributes("mountcomm.telemetry", _LAZY, globals())
