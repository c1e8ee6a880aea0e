"""The mount protocol without I/O: enums, field kinds, messages and framing.

Nothing in this package imports asyncio or socket.
"""

from . import commands, enums, fields, replies
from .commands import Command, parse_command
from .enums import (
    ACK_ONLY_COMMANDS,
    CommandCode,
    InPositionAxis,
    ReplyCode,
    Source,
    SubsystemId,
    TelemetryTopicId,
)
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame
from .messages import FieldInfo, Message
from .replies import Reply, parse_reply
from .sequence import MAX_SEQUENCE_ID, SequenceIdGenerator, next_sequence_id

__all__ = [
    "ACK_ONLY_COMMANDS",
    "DEFAULT_MAX_FRAME_BYTES",
    "MAX_SEQUENCE_ID",
    "Command",
    "CommandCode",
    "FieldInfo",
    "FrameDecoder",
    "InPositionAxis",
    "Message",
    "Reply",
    "ReplyCode",
    "SequenceIdGenerator",
    "Source",
    "SubsystemId",
    "TelemetryTopicId",
    "commands",
    "encode_frame",
    "enums",
    "fields",
    "next_sequence_id",
    "parse_command",
    "parse_reply",
    "replies",
]
