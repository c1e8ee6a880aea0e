"""Field kinds: how one typed value is validated, encoded and parsed.

Each kind knows three things about one field of a message:

* ``coerce(value)``: check a value given to a constructor and normalise it
  (raises `ValueError` naming what it expected);
* ``encode_expr(var)``: a Python expression, used by the message code generator,
  that turns the stored value into its wire text;
* ``parse(text)``: turn wire text back into a value (raises `ValueError`).

The wire formats are those of PROTOCOL.md.
"""

from __future__ import annotations

__all__ = [
    "BOOL",
    "EXTRA_STR",
    "FLOAT",
    "INT",
    "STR",
    "TIMESTAMP",
    "BoolKind",
    "EnumKind",
    "ExtraStrKind",
    "FieldKind",
    "FloatKind",
    "IntEmptyIsDefaultKind",
    "IntKind",
    "StrKind",
    "TimestampKind",
    "format_timestamp",
    "parse_timestamp",
]

import calendar
import datetime
import enum
import operator
import time
from typing import Any, ClassVar


class FieldKind:
    """Base class of field kinds.

    Attributes
    ----------
    type_name : `str`
        Name of the Python type of values, for documentation and errors.
    fast_type : `type` or `None`
        Values of exactly this type that pass `fast_check_expr` need no
        coercion (a generated constructor skips ``coerce`` for them).
    """

    type_name: ClassVar[str] = "object"
    fast_type: type | None = None
    variadic: ClassVar[bool] = False

    def coerce(self, value: Any) -> Any:
        """Validate and normalise a constructor argument.

        Raises
        ------
        ValueError
            If the value has the wrong type or an invalid value.
        """
        raise NotImplementedError

    def fast_check_expr(self, var: str, type_var: str) -> str:
        """Return a Python expression, true if ``var`` needs no coercion.

        ``type_var`` names `fast_type` in the generated code.
        """
        return f"type({var}) is {type_var}"

    def encode_expr(self, var: str) -> str:
        """Return a Python expression that encodes ``var`` as wire text."""
        return f"str({var})"

    def encode_namespace(self) -> dict[str, Any]:
        """Names that `encode_expr` expressions refer to."""
        return {}

    def fstring_field(self, var: str) -> str:
        """Return an f-string replacement field (braces included) that encodes ``var``.

        Gives the same text as `encode_expr`; kinds whose text is a plain
        conversion use the f-string's own (``{x}``, ``{x!r}``), which costs less
        than a call.
        """
        return "{" + self.encode_expr(var) + "}"

    def parse_expr(self, var: str, parser: str) -> str:
        """Return a Python expression that parses wire text ``var``.

        ``parser`` names `parse_function` in the generated code's namespace;
        kinds whose parsing is a builtin call inline it instead. The expression
        raises `ValueError` for bad text, or `KeyError` to ask for the slow path
        (`parse` on every field), which must then give the value or the
        `ValueError`.
        """
        return f"{parser}({var})"

    def parse_function(self) -> Any:
        """The callable that `parse_expr` may refer to (default: `parse`)."""
        return self.parse

    def parse_namespace(self) -> dict[str, Any]:
        """Further names that `parse_expr` expressions refer to."""
        return {}

    def parse(self, text: str) -> Any:
        """Parse wire text.

        Raises
        ------
        ValueError
            If the text is not a valid value of this kind.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BoolKind(FieldKind):
    """A boolean: ``0``/``1`` on the wire; parsing accepts any integer."""

    type_name = "bool"
    fast_type = bool

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        raise ValueError(f"expected a bool, got {value!r}")

    def encode_expr(self, var: str) -> str:
        return f"('1' if {var} else '0')"

    def parse(self, text: str) -> bool:
        return int(text) != 0

    def parse_expr(self, var: str, parser: str) -> str:
        return f"(int({var}) != 0)"


class IntKind(FieldKind):
    """A decimal integer."""

    type_name = "int"
    fast_type = int

    def coerce(self, value: Any) -> int:
        if isinstance(value, (bool, float, str, bytes)) or not hasattr(value, "__index__"):
            raise ValueError(f"expected an int, got {value!r}")
        return operator.index(value)

    def fstring_field(self, var: str) -> str:
        # Values are exact ints (coerce uses operator.index): format is str.
        return "{" + var + "}"

    def parse(self, text: str) -> int:
        return int(text)

    def parse_expr(self, var: str, parser: str) -> str:
        return f"int({var})"


class IntEmptyIsDefaultKind(IntKind):
    """An integer whose empty wire text means ``default``."""

    def __init__(self, default: int = 0) -> None:
        self.default = default

    def parse(self, text: str) -> int:
        return int(text) if text else self.default

    def parse_expr(self, var: str, parser: str) -> str:
        return f"(int({var}) if {var} else {parser})"

    def parse_function(self) -> Any:
        return self.default

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self.default!r})"


class FloatKind(FieldKind):
    """A float, written as Python's ``str(float(x))``."""

    type_name = "float"
    fast_type = float

    def coerce(self, value: Any) -> float:
        if isinstance(value, (bool, str, bytes)):
            raise ValueError(f"expected a float, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a float, got {value!r}") from None

    def encode_expr(self, var: str) -> str:
        return f"repr({var})"

    def fstring_field(self, var: str) -> str:
        return "{" + var + "!r}"

    def parse(self, text: str) -> float:
        return float(text)

    def parse_expr(self, var: str, parser: str) -> str:
        return f"float({var})"


class EnumKind(FieldKind):
    """An `enum.IntEnum` member, written as its integer value.

    Parameters
    ----------
    enum_class : `type` [`enum.IntEnum`]
        The enumeration; parsing an integer that is not one of its values fails.
    """

    def __init__(self, enum_class: type[enum.IntEnum]) -> None:
        self.enum_class = enum_class
        self.fast_type = enum_class
        self.type_name = enum_class.__name__  # type: ignore[misc]
        # Lookup tables: an enum call costs far more than a dict lookup.
        self._by_text = {str(int(m)): m for m in enum_class}
        self.text_of = {m: str(int(m)) for m in enum_class}

    def coerce(self, value: Any) -> enum.IntEnum:
        if isinstance(value, (bool, float, str, bytes)):
            raise ValueError(f"expected a {self.enum_class.__name__}, got {value!r}")
        try:
            return self.enum_class(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid {self.enum_class.__name__}") from None

    def encode_expr(self, var: str) -> str:
        return f"_text_of_{self.enum_class.__name__}[{var}]"

    def encode_namespace(self) -> dict[str, Any]:
        return {f"_text_of_{self.enum_class.__name__}": self.text_of}

    def parse(self, text: str) -> enum.IntEnum:
        member = self._by_text.get(text)
        return member if member is not None else self.enum_class(int(text))

    def parse_expr(self, var: str, parser: str) -> str:
        # Canonical text is a dict look-up; anything else (" 1", "01", a bad
        # value) raises KeyError and takes the slow path, `parse`.
        return f"{parser}[{var}]"

    def parse_function(self) -> Any:
        return self._by_text

    def __repr__(self) -> str:
        return f"EnumKind({self.enum_class.__name__})"


def _check_text(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"a text field may not contain a newline or carriage return: {value!r}")
    return value


class StrKind(FieldKind):
    """Text, written as is. ``\\n`` and ``\\r`` are refused."""

    type_name = "str"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a str, got {value!r}")
        return _check_text(value)

    def encode_expr(self, var: str) -> str:
        return var

    def parse(self, text: str) -> str:
        return text

    def parse_expr(self, var: str, parser: str) -> str:
        return var


class ExtraStrKind(FieldKind):
    """Zero or more trailing text fields, held as a `tuple` of `str`.

    Only the last field of a message may have this kind.
    """

    type_name = "tuple[str, ...]"
    variadic = True

    def coerce(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise ValueError(f"expected a sequence of str, got {value!r}")
        items = tuple(value)
        for item in items:
            if not isinstance(item, str):
                raise ValueError(f"expected a sequence of str, got item {item!r}")
            _check_text(item)
        return items

    def parse(self, text: str) -> Any:  # pragma: no cover - variadic kinds parse slices
        raise TypeError("ExtraStrKind parses a list of fields, not one field")


# --- timestamps -------------------------------------------------------------

_ISO_PREFIX_LEN = 19  # YYYY-MM-DDTHH:MM:SS
_MIN_TIMESTAMP = -62135596800.0  # 0001-01-01T00:00:00.000
_MAX_TIMESTAMP = 253402300799.999  # 9999-12-31T23:59:59.999
_MAX_CACHE = 4096
_FRACTION_SCALE: tuple[int, ...] = tuple(10**i for i in range(10))
_parse_cache: dict[str, int] = {}
"""Unix seconds by ``YYYY-MM-DDTHH:MM:SS`` text: only valid texts, at most `_MAX_CACHE`."""

_MS_TEXT: tuple[str, ...] = tuple(f".{i:03d}" for i in range(1000))
"""The text of each millisecond fraction, ``.000`` to ``.999``."""

_FRACTION_VALUE: dict[str, float] = {"": 0.0}
"""The value of each fraction text written with three digits (and of none) [s]."""
_FRACTION_VALUE.update((text, int(text[1:]) / 1000) for text in _MS_TEXT)


class _PrefixBySecond(dict[int, str]):
    """``YYYY-MM-DDTHH:MM:SS`` by integer UTC unix seconds, made on first use.

    At most `_MAX_CACHE` entries.
    """

    __slots__ = ()

    def __missing__(self, sec: int) -> str:
        if len(self) >= _MAX_CACHE:
            self.clear()
        tm = time.gmtime(sec)
        # Not strftime: its %Y does not pad years before 1000 to four digits.
        prefix = (
            f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}"
            f"T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
        )
        self[sec] = prefix
        return prefix


_prefix_by_second = _PrefixBySecond()


def format_timestamp(t: float) -> str:
    """Format UTC unix seconds as ``YYYY-MM-DDTHH:MM:SS.sss``.

    Parameters
    ----------
    t : `float`
        UTC unix time [s]. Rounded to the nearest millisecond.
    """
    ms = round(t * 1000)
    return _prefix_by_second[ms // 1000] + _MS_TEXT[ms % 1000]


def _parse_prefix(prefix: str) -> int:
    if (
        len(prefix) != _ISO_PREFIX_LEN
        or prefix[4] != "-"
        or prefix[7] != "-"
        or prefix[10] != "T"
        or prefix[13] != ":"
        or prefix[16] != ":"
    ):
        raise ValueError(f"expected a timestamp YYYY-MM-DDTHH:MM:SS[.fff], got {prefix!r}")
    parts = (prefix[0:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16], prefix[17:19])
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"expected a timestamp YYYY-MM-DDTHH:MM:SS[.fff], got {prefix!r}")
    year, month, day, hour, minute, second = (int(p) for p in parts)
    leap = second == 60 and hour == 23 and minute == 59
    try:
        value = datetime.datetime(year, month, day, hour, minute, 59 if leap else second)
    except ValueError as e:
        raise ValueError(f"invalid timestamp {prefix!r}: {e}") from None
    sec = calendar.timegm(value.timetuple())
    if leap:
        # A leap second (23:59:60) has no unix time of its own: like POSIX, map
        # it to the first second of the next day (the same as 00:00:00).
        sec += 1
        if sec > _MAX_TIMESTAMP:
            raise ValueError(f"timestamp {prefix!r} is after year 9999")
    return sec


def parse_timestamp(text: str) -> float:
    """Parse ``YYYY-MM-DDTHH:MM:SS[.f...]`` (UTC, 0 to 9 fraction digits).

    A leap second, ``23:59:60.fff`` (on any day), is accepted and read as POSIX
    time reads it: as ``00:00:00.fff`` of the next day. So
    ``2016-12-31T23:59:60.500`` gives 1483228800.5, which encodes back as
    ``2017-01-01T00:00:00.500``. Any other second 60 is refused.

    Returns
    -------
    t : `float`
        UTC unix seconds.

    Raises
    ------
    ValueError
        If ``text`` is not such a timestamp.
    """
    prefix = text[:_ISO_PREFIX_LEN]
    sec = _parse_cache.get(prefix)
    if sec is None:
        sec = _parse_prefix(prefix)
        if len(_parse_cache) >= _MAX_CACHE:
            _parse_cache.clear()
        _parse_cache[prefix] = sec
    n = len(text) - _ISO_PREFIX_LEN
    if n == 0:
        return float(sec)
    digits = text[_ISO_PREFIX_LEN + 1 :]
    if (
        text[_ISO_PREFIX_LEN] != "."
        or not 2 <= n <= 10
        or not (digits.isascii() and digits.isdigit())
    ):
        raise ValueError(f"expected a timestamp YYYY-MM-DDTHH:MM:SS[.fff], got {text!r}")
    return sec + int(digits) / _FRACTION_SCALE[n - 1]


class TimestampKind(FloatKind):
    """UTC unix seconds, written as ISO-8601 with milliseconds.

    Values must lie in years 1 to 9999 (the four-digit years of the wire format);
    NaN and infinities are refused. Besides numbers, a constructor accepts any
    object with a ``unix`` attribute, such as an `astropy.time.Time` (whose
    ``unix`` is UTC unix seconds whatever its scale), without importing astropy;
    the value is stored, and read back, as a `float`.
    """

    type_name = "float"

    def fast_check_expr(self, var: str, type_var: str) -> str:
        return f"(type({var}) is {type_var} and {_MIN_TIMESTAMP!r} <= {var} <= {_MAX_TIMESTAMP!r})"

    def coerce(self, value: Any) -> float:
        if not isinstance(value, (int, float)):
            unix = getattr(value, "unix", None)
            if unix is not None:  # duck-typed astropy.time.Time
                try:
                    value = float(unix)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"expected a scalar time, got {type(value).__name__} with unix={unix!r}"
                    ) from None
        t = super().coerce(value)
        if not _MIN_TIMESTAMP <= t <= _MAX_TIMESTAMP:  # also false for NaN
            raise ValueError(f"expected a timestamp in years 1 to 9999 [UTC unix s], got {value!r}")
        return t

    def encode_expr(self, var: str) -> str:
        # The text of the second (cached) and of the millisecond (a table), as
        # format_timestamp makes it, without a call.
        ms = "_ms_" + var.replace(".", "_")
        return f"(_prefix_by_second[({ms} := round({var} * 1000)) // 1000] + _MS_TEXT[{ms} % 1000])"

    def encode_namespace(self) -> dict[str, Any]:
        return {"_prefix_by_second": _prefix_by_second, "_MS_TEXT": _MS_TEXT}

    def fstring_field(self, var: str) -> str:
        return "{" + self.encode_expr(var) + "}"

    def parse(self, text: str) -> float:
        value: float = parse_timestamp(text)
        return value

    def parse_expr(self, var: str, parser: str) -> str:
        # A second seen before and a three-digit fraction (or none): two dict
        # look-ups. Anything else raises KeyError: the slow path, parse_timestamp
        # (which also caches the second).
        return f"(_second_of_prefix[{var}[:19]] + _FRACTION_VALUE[{var}[19:]])"

    def parse_namespace(self) -> dict[str, Any]:
        return {"_second_of_prefix": _parse_cache, "_FRACTION_VALUE": _FRACTION_VALUE}


BOOL = BoolKind()
INT = IntKind()
FLOAT = FloatKind()
STR = StrKind()
TIMESTAMP = TimestampKind()
EXTRA_STR = ExtraStrKind()
