"""Hypothesis strategies for field values, message arguments and frames."""

from __future__ import annotations

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "TEXT",
    "TIMESTAMPS",
    "frame_fields",
    "kwargs_for",
    "values_for",
]

from typing import Any

from hypothesis import strategies as st

from mountcomm.protocol import fields
from mountcomm.protocol.messages import Message

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
