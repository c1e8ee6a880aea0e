"""Shared by the protocol tests: every message class, simple arguments, hypothesis strategies."""

from __future__ import annotations

__all__ = [
    "ALL_CLASSES",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "TEXT",
    "TIMESTAMPS",
    "each_class",
    "frame_fields",
    "kwargs_for",
    "parser_for",
    "required_kwargs",
    "values_for",
]

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from mountcomm.protocol import Command, fields, parse_command, parse_reply
from mountcomm.protocol.commands import COMMANDS
from mountcomm.protocol.messages import Message
from mountcomm.protocol.replies import REPLIES

ALL_CLASSES: list[type[Message]] = [*COMMANDS.values(), *REPLIES.values()]
"""Every command and reply class."""

each_class = pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
"""Parametrize a test over `ALL_CLASSES` (argument ``cls``)."""


def parser_for(cls: type[Message]) -> Callable[[list[str]], Message]:
    """`parse_command` or `parse_reply`, whichever reads frames of ``cls``."""
    return parse_command if issubclass(cls, Command) else parse_reply


def required_kwargs(cls: type[Message]) -> dict[str, Any]:
    """Plain valid values for the required fields of ``cls`` (no other argument)."""
    simple: dict[type[fields.FieldKind], Any] = {
        fields.BoolKind: True,
        fields.IntKind: 3,
        fields.FloatKind: 1.5,
        fields.StrKind: "text",
    }
    return {info.name: simple[type(info.kind)] for info in cls.field_infos if info.required}


MIN_TIMESTAMP = -62135596800.0
"""0001-01-01T00:00:00 UTC [unix s]: the first instant the wire format can write."""
MAX_TIMESTAMP = 253402300799.999
"""9999-12-31T23:59:59.999 UTC [unix s]: the last instant the wire format can write."""

TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12)
"""Text that may go in a field: any UTF-8 encodable character but newline and CR."""

TIMESTAMPS = st.floats(min_value=MIN_TIMESTAMP, max_value=MAX_TIMESTAMP)
"""Every timestamp the wire format can carry [UTC unix s]."""


def values_for(kind: fields.FieldKind) -> st.SearchStrategy[Any]:
    """Return a strategy of valid constructor values for a field kind."""
    # Subclasses first: TimestampKind is a FloatKind, IntEmptyIsDefaultKind an IntKind.
    if isinstance(kind, fields.TimestampKind):
        return TIMESTAMPS
    if isinstance(kind, fields.BoolKind):
        return st.booleans()
    if isinstance(kind, fields.IntKind):
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if isinstance(kind, fields.FloatKind):
        return st.floats()  # nan and ±inf included: they have a wire form too
    if isinstance(kind, fields.EnumKind):
        return st.sampled_from(list(kind.enum_class))
    if isinstance(kind, fields.StrKind):
        return TEXT
    if isinstance(kind, fields.ExtraStrKind):
        return st.lists(TEXT, max_size=4).map(tuple)
    raise TypeError(f"no strategy for {kind!r}")


@st.composite
def kwargs_for(draw: st.DrawFn, cls: type[Message]) -> dict[str, Any]:
    """Constructor arguments for ``cls``: every required field, optional ones at random."""
    kwargs: dict[str, Any] = {}
    for info in cls.field_infos:
        if info.required or draw(st.booleans()):
            kwargs[info.name] = draw(values_for(info.kind))
    return kwargs


frame_fields = st.lists(TEXT, min_size=1, max_size=6)
"""The fields of one frame, as `encode_frame` accepts them."""
