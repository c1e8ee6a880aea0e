"""Reply messages: the seven replies of PROTOCOL.md.

Every reply starts with its ``reply_code``. ACK, NOACK and DONE answer a command
(``sequence_id`` and ``source`` identify it); ERROR, WARNING, ON_STATE_INFO and
IN_POSITION are unsolicited.
"""

from __future__ import annotations

__all__ = [
    "REPLIES",
    "AckReply",
    "DoneReply",
    "ErrorReply",
    "InPositionReply",
    "NoAckReply",
    "OnStateInfoReply",
    "Replies",
    "Reply",
    "ReplyDict",
    "WarningReply",
    "parse_reply",
]

import time
from typing import Any, ClassVar

from ..exceptions import ProtocolError
from .enums import ReplyCode, Source
from .fields import BOOL, EXTRA_STR, INT, STR, TIMESTAMP, EnumKind, IntEmptyIsDefaultKind
from .messages import Message, field

SOURCE = EnumKind(Source)


class Reply(Message):
    """Base class of replies (abstract).

    Attributes
    ----------
    reply_code : `ReplyCode`
        The reply code (class attribute).
    """

    __slots__ = ()
    _abstract = True
    _code_index = 0
    _code_attr = "reply_code"
    reply_code: ClassVar[ReplyCode]

    @classmethod
    def from_fields(cls, fields: list[str]) -> Any:
        """Parse wire fields (code included) into a reply.

        On `Reply` itself, the class is chosen by the code (as `parse_reply`);
        on a reply class, the fields must be of that reply.

        Raises
        ------
        ProtocolError
            If the fields do not describe a valid reply (of this class).
        """
        if cls is Reply:
            return parse_reply(fields)
        return cls._parse_fields(fields)


class _CommandReply(Reply):
    """Base of the replies that answer one command."""

    __slots__ = ()
    _abstract = True
    sequence_id: int = field(INT, doc="sequence_id of the command answered.")
    source: Source = field(SOURCE, default=Source.CSC, doc="source of the command answered.")
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When sent [UTC unix s].")


class AckReply(_CommandReply):
    """The command was accepted; it should take ``timeout_ms``."""

    reply_code = ReplyCode.ACK
    timeout_ms: int = field(
        IntEmptyIsDefaultKind(0), default=0, doc="Expected duration [ms]; empty on the wire: 0."
    )


class NoAckReply(_CommandReply):
    """The command was rejected, or failed after its ACK."""

    reply_code = ReplyCode.NOACK
    explanation: str = field(STR, default="", doc="Why.")


class DoneReply(_CommandReply):
    """The command finished successfully."""

    reply_code = ReplyCode.DONE


class ErrorReply(Reply):
    """An error condition (unsolicited)."""

    reply_code = ReplyCode.ERROR
    on: bool = field(BOOL, doc="Is the error latched?")
    active: bool = field(BOOL, doc="Is the condition still present?")
    code: int = field(INT, doc="Error code: a SubsystemId plus a condition number.")
    subsystem: str = field(STR, doc='"{SubsystemId}. {details}".')
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When [UTC unix s].")
    extra_data: tuple[str, ...] = field(EXTRA_STR, default=(), doc="Further text fields.")

    @property
    def extra(self) -> tuple[str, ...]:
        """Read-only alias of `extra_data` (the constructor takes ``extra_data``)."""
        return self.extra_data


class WarningReply(Reply):
    """A warning condition (unsolicited)."""

    reply_code = ReplyCode.WARNING
    active: bool = field(BOOL, doc="Is the condition present?")
    code: int = field(INT, doc="Warning code: a SubsystemId plus a condition number.")
    subsystem: str = field(STR, doc='"{SubsystemId}. {details}".')
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When [UTC unix s].")
    extra_data: tuple[str, ...] = field(EXTRA_STR, default=(), doc="Further text fields.")

    @property
    def extra(self) -> tuple[str, ...]:
        """Read-only alias of `extra_data` (the constructor takes ``extra_data``)."""
        return self.extra_data


class OnStateInfoReply(Reply):
    """A description of the controller's state (unsolicited)."""

    reply_code = ReplyCode.ON_STATE_INFO
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When [UTC unix s].")
    description: str = field(STR, doc="Description of the state.")


class InPositionReply(Reply):
    """An axis entered or left position (unsolicited)."""

    reply_code = ReplyCode.IN_POSITION
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When [UTC unix s].")
    what: int = field(INT, doc="0: azimuth, 1: elevation.")
    in_position: bool = field(BOOL, doc="In position?")


REPLIES: dict[ReplyCode, type[Reply]] = {
    cls.reply_code: cls
    for cls in (
        AckReply,
        NoAckReply,
        DoneReply,
        ErrorReply,
        WarningReply,
        OnStateInfoReply,
        InPositionReply,
    )
}
"""Every reply class, by code."""

# Catalogue names of the original mount classes (same objects as above).
Replies: tuple[type[Reply], ...] = tuple(REPLIES.values())
"""Every reply class, in code order."""
ReplyDict: dict[ReplyCode, type[Reply]] = REPLIES
"""Every reply class, by code (the same dict as `REPLIES`)."""

_BY_TEXT: dict[str, type[Reply]] = {str(int(code)): cls for code, cls in REPLIES.items()}
# Chosen by the code's text: the parsers need not check the code again.
_PARSER_BY_TEXT: dict[str, Any] = {text: cls._parse_known for text, cls in _BY_TEXT.items()}


def parse_reply(fields: list[str]) -> Reply:
    """Parse the wire fields of one frame as a reply.

    Raises
    ------
    ProtocolError
        Unknown code, wrong field count or a bad value.
    """
    try:
        parse = _PARSER_BY_TEXT[fields[0]]
    except (KeyError, IndexError):
        parse = _lookup_slow(fields)._parse_fields  # private-access: protocol-internal parser
    return parse(fields)  # type: ignore[no-any-return]


def _lookup_slow(fields: list[str]) -> type[Reply]:
    if not fields:
        raise ProtocolError("a reply has at least one field (reply_code), got none", fields)
    try:
        return REPLIES[ReplyCode(int(fields[0]))]
    except ValueError:
        raise ProtocolError(f"unknown reply code {fields[0]!r}", fields) from None
