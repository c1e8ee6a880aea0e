"""The telemetry stream's format: JSON objects, one per line, ``"\\r\\n"``-terminated.

Pure: no asyncio, no sockets. Each object has ``topicID`` (a
`TelemetryTopicId`), ``timestamp`` (TAI unix seconds, see `mountcomm.telemetry.timescales`)
and the fields of its topic, listed in `TOPIC_FIELDS`.
"""

from __future__ import annotations

__all__ = [
    "AXIS_TOPICS",
    "DRIVE_TOPICS",
    "MAX_LINE_BYTES",
    "TERMINATOR",
    "TOPIC_FIELDS",
    "TopicField",
    "decode_sample",
    "encode_sample",
    "topic_name",
]

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ProtocolError
from ..protocol.enums import TelemetryTopicId

TERMINATOR = b"\r\n"
MAX_LINE_BYTES = 1 << 16
"""Longest telemetry line a client accepts [bytes]; longer lines are skipped."""


@dataclass(frozen=True, slots=True)
class TopicField:
    """One field of a telemetry topic.

    Attributes
    ----------
    name : `str`
        The JSON key.
    unit : `str`
        Unit of the value (of each element, for a list).
    doc : `str`
        What the value is.
    """

    name: str
    unit: str
    doc: str


_COMMON = (
    TopicField("topicID", "", "the topic (`TelemetryTopicId`)"),
    TopicField("timestamp", "s", "when the sample was taken, TAI unix seconds"),
)
_AXIS = (
    *_COMMON,
    TopicField("angleActual", "deg", "measured position"),
    TopicField("angleSet", "deg", "demanded position: the move target, or the tracking target now"),
    TopicField("velocityActual", "deg/s", "measured velocity"),
    TopicField("velocitySet", "deg/s", "demanded velocity"),
    TopicField("accelerationActual", "deg/s²", "measured acceleration"),
    TopicField("torqueActual", "N m", "axis torque"),
)
_DRIVES = (
    *_COMMON,
    TopicField("current", "A", "motor current, a list with one value per drive"),
)

AXIS_TOPICS = (
    TelemetryTopicId.AZIMUTH,
    TelemetryTopicId.ELEVATION,
    TelemetryTopicId.CAMERA_CABLE_WRAP,
)
"""Topics that describe an axis's motion, in display order."""

DRIVE_TOPICS: Mapping[TelemetryTopicId, TelemetryTopicId] = {
    TelemetryTopicId.AZIMUTH_DRIVE: TelemetryTopicId.AZIMUTH,
    TelemetryTopicId.ELEVATION_DRIVE: TelemetryTopicId.ELEVATION,
}
"""Drive topics and the axis whose drives they describe."""

TOPIC_FIELDS: Mapping[TelemetryTopicId, tuple[TopicField, ...]] = {
    TelemetryTopicId.AZIMUTH: _AXIS,
    TelemetryTopicId.ELEVATION: _AXIS,
    TelemetryTopicId.CAMERA_CABLE_WRAP: _AXIS,
    TelemetryTopicId.AZIMUTH_DRIVE: _DRIVES,
    TelemetryTopicId.ELEVATION_DRIVE: _DRIVES,
}
"""The fields of each topic, in the order the simulator sends them."""


def topic_name(topic: Any) -> str:
    """The `TelemetryTopicId` name of ``topic``, or ``str(topic)`` for an unknown id."""
    try:
        return TelemetryTopicId(topic).name
    except ValueError:
        return str(topic)


def encode_sample(sample: Mapping[str, Any]) -> bytes:
    """Encode one sample as a JSON line (with its ``"\\r\\n"``)."""
    return json.dumps(sample, separators=(",", ":")).encode() + TERMINATOR


def decode_sample(line: bytes) -> dict[str, Any]:
    """Decode one JSON line (with or without its terminator).

    Raises
    ------
    ProtocolError
        Not a JSON object with an integer ``topicID``.
    """
    try:
        sample = json.loads(line)
    except ValueError as e:  # includes UnicodeDecodeError
        raise ProtocolError(f"telemetry line is not JSON: {e}", line[:200]) from None
    if not isinstance(sample, dict) or not isinstance(sample.get("topicID"), int):
        raise ProtocolError("telemetry line is not an object with an int topicID", line[:200])
    return sample
