"""Every field kind of `mountcomm.protocol.fields`: coerce, wire text, parse."""

from __future__ import annotations

import datetime
import functools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountcomm.protocol import Reply, ReplyCode, Source, fields
from mountcomm.protocol.fields import format_timestamp, parse_timestamp
from mountcomm.protocol.messages import field

from .support import MAX_TIMESTAMP, MIN_TIMESTAMP, TEXT, TIMESTAMPS


@functools.cache
def probe_class(kind: fields.FieldKind) -> type[Reply]:
    """A message with one field of ``kind``, so that its generated codec writes the value."""

    class Probe(Reply):
        reply_code = ReplyCode.ACK
        value: Any = field(kind)

    return Probe


def wire(kind: fields.FieldKind, value: Any) -> str:
    """The wire text of ``value`` as a field of ``kind``, written by a generated encoder."""
    _, text = probe_class(kind)(value=value).fields()
    return text


def unix(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    microsecond: int = 0,
) -> float:
    """UTC unix seconds of a calendar date and time."""
    dt = datetime.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=datetime.UTC)
    return dt.timestamp()


# --- bool -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(True, "1"), (False, "0")])
def test_bool_wire(value: bool, expected: str) -> None:
    assert wire(fields.BOOL, fields.BOOL.coerce(value)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", False), ("1", True), ("2", True), ("-1", True), ("42", True), ("00", False)],
)
def test_bool_parse_accepts_any_integer(text: str, expected: bool) -> None:
    value = fields.BOOL.parse(text)
    assert type(value) is bool
    assert value is expected


@pytest.mark.parametrize("text", ["", "true", "yes", "1.0", "x"])
def test_bool_parse_rejects_non_integers(text: str) -> None:
    with pytest.raises(ValueError):
        fields.BOOL.parse(text)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), (1, True), (0, False), (7, True)]
)
def test_bool_coerce(value: Any, expected: bool) -> None:
    assert fields.BOOL.coerce(value) is expected


@pytest.mark.parametrize("value", ["1", 1.0, None, b"1"])
def test_bool_coerce_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="expected a bool"):
        fields.BOOL.coerce(value)


# --- int ------------------------------------------------------------------------


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
@settings(max_examples=50, deadline=None)
def test_int_round_trip(value: int) -> None:
    text = wire(fields.INT, fields.INT.coerce(value))
    assert text == str(value)
    assert fields.INT.parse(text) == value


def test_int_coerce_accepts_int_enums_as_plain_ints() -> None:
    value = fields.INT.coerce(Source.EUI)
    assert value == 2
    assert type(value) is int


@pytest.mark.parametrize("value", [1.0, 1.5, "1", b"1", None, True, False])
def test_int_coerce_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="expected an int"):
        fields.INT.coerce(value)


@pytest.mark.parametrize("text", ["", "1.5", "x", "0x10"])
def test_int_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        fields.INT.parse(text)


# --- int with empty_is_default --------------------------------------------------


def test_int_empty_is_default() -> None:
    kind = fields.IntEmptyIsDefaultKind(default=7)
    assert kind.parse("") == 7
    assert kind.parse("0") == 0
    assert kind.parse("1500") == 1500
    # Written as a plain integer: the empty form is only ever read.
    assert wire(kind, kind.coerce(0)) == "0"
    assert repr(kind) == "IntEmptyIsDefaultKind(default=7)"
    with pytest.raises(ValueError):
        kind.parse("x")
    with pytest.raises(ValueError):
        kind.coerce("")


# --- float ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, "12.0"),
        (12.0, "12.0"),
        (0.3, "0.3"),
        (1589372384.123, "1589372384.123"),
        (-0.0, "-0.0"),
        (1e22, "1e+22"),
    ],
)
def test_float_wire_is_str_of_float(value: float, expected: str) -> None:
    assert wire(fields.FLOAT, fields.FLOAT.coerce(value)) == expected


@given(st.floats() | st.integers(min_value=-(2**53), max_value=2**53))
@settings(max_examples=100, deadline=None)
def test_float_round_trip(value: float) -> None:
    coerced = fields.FLOAT.coerce(value)
    assert type(coerced) is float
    text = wire(fields.FLOAT, coerced)
    assert text == str(float(value))
    parsed = fields.FLOAT.parse(text)
    assert parsed == coerced or (math.isnan(parsed) and math.isnan(coerced))


@pytest.mark.parametrize("value", ["1.0", b"1", None, True, [1.0], 1j])
def test_float_coerce_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="expected a float"):
        fields.FLOAT.coerce(value)


@pytest.mark.parametrize("text", ["", "x", "1.0.0", "1,5"])
def test_float_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        fields.FLOAT.parse(text)


# --- enum -----------------------------------------------------------------------


@pytest.mark.parametrize("member", list(Source))
def test_enum_wire_is_integer_value(member: Source) -> None:
    kind = fields.EnumKind(Source)
    text = wire(kind, kind.coerce(member))
    assert text == str(member.value)
    assert kind.parse(text) is member


def test_enum_coerce_accepts_int_values() -> None:
    assert fields.EnumKind(Source).coerce(100) is Source.PXI


@pytest.mark.parametrize("value", [7, "CSC", "1", 1.0, True, None])
def test_enum_coerce_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="Source"):
        fields.EnumKind(Source).coerce(value)


@pytest.mark.parametrize("text", ["7", "", "CSC", "1.0"])
def test_enum_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        fields.EnumKind(Source).parse(text)


# --- str ------------------------------------------------------------------------


@given(TEXT)
@settings(max_examples=50, deadline=None)
def test_str_written_as_is(value: str) -> None:
    assert wire(fields.STR, fields.STR.coerce(value)) == value
    assert fields.STR.parse(value) == value


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "\r\n", "trailing\n", "\rleading"])
def test_str_refuses_newline_and_carriage_return(value: str) -> None:
    with pytest.raises(ValueError, match="newline or carriage return"):
        fields.STR.coerce(value)


@pytest.mark.parametrize("value", [1, None, b"text", ["text"]])
def test_str_coerce_rejects_non_text(value: Any) -> None:
    with pytest.raises(ValueError, match="expected a str"):
        fields.STR.coerce(value)


# --- extra str (variadic tail) --------------------------------------------------


def test_extra_str_coerce() -> None:
    assert fields.EXTRA_STR.coerce(["a", "b"]) == ("a", "b")
    assert fields.EXTRA_STR.coerce(()) == ()
    assert fields.EXTRA_STR.coerce(x for x in ["c"]) == ("c",)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("abc", "sequence of str"),
        (5, "sequence of str"),
        (["a", 1], "item 1"),
        (["a\nb"], "newline"),
        (("\r",), "newline"),
    ],
)
def test_extra_str_coerce_rejects(value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fields.EXTRA_STR.coerce(value)


# --- timestamp ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (unix(2020, 2, 27, 14, 48, 27, microsecond=469000), "2020-02-27T14:48:27.469"),
        (unix(2020, 5, 13, 12, 19, 44, microsecond=123000), "2020-05-13T12:19:44.123"),
        (0.0, "1970-01-01T00:00:00.000"),
        (-1.5, "1969-12-31T23:59:58.500"),
        (unix(2024, 2, 29, 23, 59, 59), "2024-02-29T23:59:59.000"),
        (MIN_TIMESTAMP, "0001-01-01T00:00:00.000"),
        (MAX_TIMESTAMP, "9999-12-31T23:59:59.999"),
    ],
)
def test_timestamp_format_and_parse(t: float, text: str) -> None:
    assert format_timestamp(t) == text
    assert wire(fields.TIMESTAMP, fields.TIMESTAMP.coerce(t)) == text
    assert fields.TIMESTAMP.parse(text) == pytest.approx(t, abs=5e-4)


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (0.0004, "2020-01-01T00:00:00.000"),
        (0.0006, "2020-01-01T00:00:00.001"),
        (0.9994, "2020-01-01T00:00:00.999"),
        (0.9996, "2020-01-01T00:00:01.000"),  # rounds into the next second
        (59.9999, "2020-01-01T00:01:00.000"),
    ],
)
def test_timestamp_rounds_to_nearest_millisecond(offset: float, text: str) -> None:
    assert format_timestamp(unix(2020, 1, 1) + offset) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-05-13T12:19:44", 0.0),
        ("2020-05-13T12:19:44.1", 0.1),
        ("2020-05-13T12:19:44.12", 0.12),
        ("2020-05-13T12:19:44.123", 0.123),
        ("2020-05-13T12:19:44.123456", 0.123456),
        ("2020-05-13T12:19:44.123456789", 0.123456789),
        ("2020-05-13T12:19:44.000000001", 1e-9),
    ],
)
def test_timestamp_parse_accepts_0_to_9_fraction_digits(text: str, expected: float) -> None:
    base = unix(2020, 5, 13, 12, 19, 44)
    assert parse_timestamp(text) == pytest.approx(base + expected, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2020-05-13",
        "2020-05-13T12:19",
        "2020-05-13T12:19:44.",  # a dot with no digit
        "2020-05-13T12:19:44.1234567890",  # 10 fraction digits
        "2020-05-13T12:19:44Z",
        "2020-05-13T12:19:44+00:00",
        "2020-05-13T12:19:44.123Z",
        "2020-05-13T12:19:44,123",
        "2020-05-13 12:19:44.123",
        "2020/05/13T12:19:44.123",
        " 2020-05-13T12:19:44.123",
        "2020-05-13T12:19:44.123 ",
        "2020-05-13T12:19:44.12a",
        "2020-05-13T12:19:44.-12",
        "2020-13-13T12:19:44.123",  # month 13
        "2020-02-30T12:19:44.123",  # no such day
        "2020-05-13T24:00:00.000",
        "2020-05-13T12:60:00.000",
        "2020-05-13T12:19:60.000",
        "0000-01-01T00:00:00.000",
        "202a-05-13T12:19:44.123",
        "2020-05-13T12:19:4a.123",
        "２０２０-05-13T12:19:44.123",  # non-ASCII digits  # noqa: RUF001
        "2020-05-13T12:19:44.１２３",  # noqa: RUF001
        "1589372384.123",
    ],
)
def test_timestamp_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
    with pytest.raises(ValueError):
        fields.TIMESTAMP.parse(text)


def test_timestamp_parse_rejects_malformed_fraction_after_cached_prefix() -> None:
    # The date-time prefix is cached: a good frame must not make a bad one pass.
    assert parse_timestamp("2021-07-01T01:02:03.004") == pytest.approx(
        unix(2021, 7, 1, 1, 2, 3) + 0.004
    )
    for bad in (
        "2021-07-01T01:02:03.",
        "2021-07-01T01:02:03x004",
        "2021-07-01T01:02:03.0040000000",
    ):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


@given(TIMESTAMPS)
@settings(max_examples=200, deadline=None)
def test_timestamp_round_trip_is_stable(t: float) -> None:
    text = format_timestamp(t)
    assert len(text) == 23
    parsed = parse_timestamp(text)
    assert abs(parsed - t) <= 5e-4 + abs(t) * 1e-15
    assert format_timestamp(parsed) == text


@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 1),
        max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
    ),
    st.integers(min_value=0, max_value=9),
)
@settings(max_examples=200, deadline=None)
def test_timestamp_parse_agrees_with_datetime(dt: datetime.datetime, digits: int) -> None:
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    fraction = f"{dt.microsecond:06d}000"[:digits]
    if digits:
        text += "." + fraction
    expected = dt.replace(microsecond=0, tzinfo=datetime.UTC).timestamp()
    expected += int(fraction or "0") / 10**digits
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), MAX_TIMESTAMP + 1, MIN_TIMESTAMP - 1, 1e300],
)
def test_timestamp_coerce_rejects_values_the_wire_cannot_carry(value: float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        fields.TIMESTAMP.coerce(value)


@pytest.mark.parametrize("value", ["2020-05-13T12:19:44.123", True, None, b"0"])
def test_timestamp_coerce_rejects_non_numbers(value: Any) -> None:
    with pytest.raises(ValueError):
        fields.TIMESTAMP.coerce(value)


def test_timestamp_coerce_accepts_ints() -> None:
    value = fields.TIMESTAMP.coerce(1589372384)
    assert type(value) is float
    assert value == 1589372384.0
