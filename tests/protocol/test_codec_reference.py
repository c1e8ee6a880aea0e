"""The generated codecs against a straightforward reference written field by field.

The generated ``encode`` / ``fields`` / parsers inline conversions, look up
canonical text in dicts and cache timestamp text; the reference below does
none of that. For any message and any (mutated) wire fields, both must give the
same frame, the same message, or both a `ProtocolError`.
"""

from __future__ import annotations

import calendar
import datetime
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.exceptions import ProtocolError
from mountcomm.protocol import ReplyCode, fields
from mountcomm.protocol.messages import Message
from mountcomm.protocol.replies import Reply

from .support import ALL_CLASSES, MAX_TIMESTAMP, each_class, kwargs_for, parser_for

_EPOCH = datetime.datetime(1970, 1, 1)
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?", re.ASCII)


def reference_parse_timestamp(text: str) -> float:
    """UTC unix seconds from ``YYYY-MM-DDTHH:MM:SS[.f…]`` (a leap second read as POSIX does)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not a timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    leap = second == 60 and hour == 23 and minute == 59
    when = datetime.datetime(year, month, day, hour, minute, 59 if leap else second)
    sec = calendar.timegm(when.timetuple()) + leap
    if sec > MAX_TIMESTAMP:
        raise ValueError(f"after year 9999: {text!r}")
    fraction = match.group(7)
    return float(sec) if fraction is None else sec + int(fraction) / 10 ** len(fraction)


def reference_text(kind: fields.FieldKind, value: Any) -> str:
    """Wire text of one value, written out by hand per kind."""
    if isinstance(kind, fields.TimestampKind):
        when = _EPOCH + datetime.timedelta(milliseconds=round(value * 1000))
        return (
            f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}.{when.microsecond // 1000:03d}"
        )
    if isinstance(kind, fields.BoolKind):
        return "1" if value else "0"
    if isinstance(kind, fields.IntKind):
        return str(value)
    if isinstance(kind, fields.FloatKind):
        return repr(value)
    if isinstance(kind, fields.EnumKind):
        return str(int(value))
    if isinstance(kind, fields.StrKind):
        return str(value)
    raise TypeError(f"no reference for {kind!r}")


def reference_fields(msg: Message) -> list[str]:
    """The wire fields of ``msg``, code included, built from its field list."""
    cls = type(msg)
    out: list[str] = []
    for info in cls.field_infos:
        value = getattr(msg, info.name)
        if info.kind.variadic:
            out.extend(value)
        else:
            out.append(reference_text(info.kind, value))
    out.insert(cls._code_index, str(int(getattr(cls, cls._code_attr))))
    return out


def reference_value(kind: fields.FieldKind, text: str) -> Any:
    """One field's value from its text (raises `ValueError`)."""
    if isinstance(kind, fields.TimestampKind):
        return reference_parse_timestamp(text)
    if isinstance(kind, fields.BoolKind):
        return int(text) != 0
    if isinstance(kind, fields.IntEmptyIsDefaultKind):
        return int(text) if text else kind.default
    if isinstance(kind, fields.IntKind):
        return int(text)
    if isinstance(kind, fields.FloatKind):
        return float(text)
    if isinstance(kind, fields.EnumKind):
        return kind.enum_class(int(text))
    if isinstance(kind, fields.StrKind):
        return text
    raise TypeError(f"no reference for {kind!r}")


def reference_parse(cls: type[Message], wire: list[str]) -> Message:
    """An instance of ``cls`` from its wire fields, one field at a time, via the constructor."""
    infos = cls.field_infos
    variadic = bool(infos) and infos[-1].kind.variadic
    n_fixed = len(infos) + 1 - variadic
    if len(wire) < n_fixed or (not variadic and len(wire) != n_fixed):
        raise ProtocolError("wrong field count", wire)
    code = wire[cls._code_index]
    try:
        if int(code) != int(getattr(cls, cls._code_attr)):
            raise ProtocolError("wrong code", wire)
        values = {}
        for i, info in enumerate(infos):
            if info.kind.variadic:
                values[info.name] = tuple(wire[n_fixed:])
            else:
                values[info.name] = reference_value(info.kind, wire[i + (i >= cls._code_index)])
    except ValueError:
        raise ProtocolError("bad value", wire) from None
    return cls(**values)


def outcome(parse: Any, wire: list[str]) -> tuple[str, Any]:
    try:
        msg = parse(wire)
    except ProtocolError:
        return ("error", None)
    return (type(msg).__name__, msg.fields())


NOISE = [
    *["", " 1", "01", "+1", "1_0", "-0", "0", "1", "2", "100", "7", "x", "1.5", "1e3"],
    *["\u0663", "nan", "-inf", "0x10", "True"],
    *["2020-01-01T00:00:00", "2020-01-01T00:00:00.5", "2016-12-31T23:59:60.123456789"],
    *["2020-02-30T00:00:00.000", "0001-01-01T00:00:00.000", "2020-01-01 00:00:00.000"],
    *["2020-01-01T00:00:00.0000000000", "\u0662020-01-01T00:00:00.000"],
]


@settings(max_examples=25, deadline=None)
@each_class
@given(data=st.data())
def test_encode_matches_reference(cls: type[Message], data: st.DataObject) -> None:
    msg = cls(**data.draw(kwargs_for(cls)))
    want = reference_fields(msg)
    assert msg.fields() == want
    assert msg.encode() == ("\n".join(want) + "\r\n").encode()


@settings(max_examples=25, deadline=None)
@each_class
@given(data=st.data())
def test_parse_matches_reference(cls: type[Message], data: st.DataObject) -> None:
    wire = cls(**data.draw(kwargs_for(cls))).fields()
    for i in range(len(wire)):
        if i != cls._code_index and data.draw(st.integers(0, 3)) == 0:
            wire[i] = data.draw(st.sampled_from(NOISE))
    if data.draw(st.integers(0, 9)) == 0:
        wire = wire[:-1] if data.draw(st.booleans()) else [*wire, "1"]
    want = outcome(lambda w: reference_parse(cls, w), wire)
    assert outcome(cls.from_fields, wire) == want
    assert outcome(parser_for(cls), wire) == want


def test_every_class_is_covered() -> None:
    assert {type(k) for c in ALL_CLASSES for k in (i.kind for i in c.field_infos)} == {
        fields.BoolKind,
        fields.IntKind,
        fields.IntEmptyIsDefaultKind,
        fields.FloatKind,
        fields.TimestampKind,
        fields.EnumKind,
        fields.StrKind,
        fields.ExtraStrKind,
    }


def test_timestamp_caches_are_bounded() -> None:
    base = 1_700_000_000.0
    for i in range(fields._MAX_CACHE + 10):
        t = base + i * 1.001
        assert fields.format_timestamp(t) == reference_text(fields.TIMESTAMP, t)
        assert len(fields._prefix_by_second) <= fields._MAX_CACHE
        text = reference_text(fields.TIMESTAMP, t)
        assert fields.parse_timestamp(text) == reference_parse_timestamp(text)
        assert len(fields._parse_cache) <= fields._MAX_CACHE


def test_bad_timestamp_text_is_not_cached() -> None:
    bad = "2020-02-30T00:00:00.000"
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid timestamp"):
            fields.parse_timestamp(bad)
    assert bad[:19] not in fields._parse_cache


def test_a_message_without_fields() -> None:
    class Bare(Reply):
        reply_code = ReplyCode.DONE

    msg = Bare()
    assert msg.encode() == b"2\r\n"
    assert msg.fields() == reference_fields(msg) == ["2"]
    assert Bare.from_fields(["2"]) == msg
    assert repr(msg) == "Bare()"
    with pytest.raises(ProtocolError, match="expected 1 fields, got 2"):
        Bare.from_fields(["2", "x"])
