"""Declarative messages: one class declaration per message, generated codecs.

A message class lists its fields as annotated class attributes whose values come
from `field`::

    class ElevationAxisMove(Command):
        code = CommandCode.ELEVATION_AXIS_MOVE
        position: float = field(FLOAT, doc="Target position [deg].")
        velocity: float = field(FLOAT, default=0.0, doc="Velocity [deg/s]; 0: default.")

`MessageMeta` turns that declaration into a class with ``__slots__`` and a
keyword-only ``__init__``, ``encode``, ``fields`` and ``_parse_fields`` generated
once per class, so that the hot path does no reflection at all.

Equality follows the wire: two messages are equal when they are of the same class
and their encoded fields are equal (timestamps compare to the millisecond).
"""

from __future__ import annotations

__all__ = ["MISSING", "FieldInfo", "Message", "MessageMeta", "field"]

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exceptions import ProtocolError
from .fields import FieldKind


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Sentinel: the field has no default and must be given."""


@dataclass(frozen=True)
class FieldInfo:
    """Description of one field of a message.

    Attributes
    ----------
    name : `str`
        Attribute and keyword name.
    kind : `FieldKind`
        How the value is validated, encoded and parsed.
    default : `object`
        Default value, or `MISSING` if the field is required.
    default_factory : callable or `None`
        Called to make the default when the argument is omitted.
    doc : `str`
        One-line description, with units in brackets.
    """

    name: str
    kind: FieldKind
    default: Any = MISSING
    default_factory: Callable[[], Any] | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        """True if the field has neither a default nor a default factory."""
        return self.default is MISSING and self.default_factory is None


class _FieldSpec:
    """What `field` returns: collected and removed by `MessageMeta`."""

    __slots__ = ("default", "default_factory", "doc", "kind")

    def __init__(
        self,
        kind: FieldKind,
        default: Any,
        default_factory: Callable[[], Any] | None,
        doc: str,
    ) -> None:
        self.kind = kind
        self.default = default
        self.default_factory = default_factory
        self.doc = doc


def field(
    kind: FieldKind,
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    doc: str = "",
) -> Any:
    """Declare a message field (use as the value of an annotated class attribute).

    Parameters
    ----------
    kind : `FieldKind`
        The field's kind, e.g. `fields.FLOAT`.
    default : `object`, optional
        Default value; omit for a required field.
    default_factory : callable, optional
        Called with no argument to make the default (e.g. `time.time`).
    doc : `str`, optional
        Description, with units in brackets.
    """
    if default is not MISSING and default_factory is not None:
        raise TypeError("give default or default_factory, not both")
    if default is not MISSING:
        default = kind.coerce(default)
    return _FieldSpec(kind, default, default_factory, doc)


def _build(cls_name: str, src: str, namespace: dict[str, Any], func_name: str) -> Any:
    code = compile(src, f"<mountcomm generated {cls_name}.{func_name}>", "exec")
    exec(code, namespace)
    func = namespace.pop(func_name)
    func.__qualname__ = f"{cls_name}.{func_name}"
    return func


@typing.dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class MessageMeta(type):
    """Metaclass of `Message`: collects fields and generates the codec."""

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> MessageMeta:
        inherited: tuple[FieldInfo, ...] = ()
        for base in bases:
            inherited = getattr(base, "field_infos", inherited)
        own = []
        for attr, value in list(namespace.items()):
            if isinstance(value, _FieldSpec):
                own.append(
                    FieldInfo(attr, value.kind, value.default, value.default_factory, value.doc)
                )
                del namespace[attr]
        namespace["__slots__"] = tuple(f.name for f in own)
        infos = inherited + tuple(own)
        for info in infos[:-1]:
            if info.kind.variadic:
                raise TypeError(f"{name}.{info.name}: only the last field may be variadic")
        namespace["field_infos"] = infos
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if namespace.get("_abstract", False):
            return cls
        _generate(cls, infos)
        return cls


def _generate(cls: Any, infos: tuple[FieldInfo, ...]) -> None:
    """Generate ``__init__``, ``encode``, ``fields`` and ``_parse_fields``."""
    ns: dict[str, Any] = {
        "ProtocolError": ProtocolError,
        "_new": object.__new__,
        "_cls": cls,
        "_explain": _explain,
        "_parse_slow": _parse_slow,
    }
    cls.__init__ = _build(cls.__name__, _init_source(cls.__name__, infos, ns), ns, "__init__")
    # Wire layout: the fixed fields with the code inserted at code_index,
    # then the variadic tail (if any).
    variadic = infos[-1] if infos and infos[-1].kind.variadic else None
    fixed = infos[:-1] if variadic else infos
    _generate_encoders(cls, fixed, variadic, ns)
    _generate_parser(cls, fixed, variadic, ns)


def _init_source(name: str, infos: tuple[FieldInfo, ...], ns: dict[str, Any]) -> str:
    """Source of the keyword-only, validating ``__init__``; adds its helpers to ``ns``."""
    params = []
    body = []
    for i, info in enumerate(infos):
        ns[f"_c{i}"] = _named_coercer(name, info)
        arg = info.name
        if info.required:
            params.append(arg)
        elif info.default_factory is not None:
            ns[f"_f{i}"] = info.default_factory
            params.append(f"{arg}=None")
        else:
            ns[f"_d{i}"] = info.default
            params.append(f"{arg}=_d{i}")
        fast = info.kind.fast_type
        if fast is not None:
            ns[f"_t{i}"] = fast
            value = f"({arg} if {info.kind.fast_check_expr(arg, f'_t{i}')} else _c{i}({arg}))"
        else:
            value = f"_c{i}({arg})"
        if info.default_factory is not None:
            value = f"(_f{i}() if {arg} is None else {value})"
        body.append(f"    self.{arg} = {value}")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    return "def __init__({}):\n{}\n".format(signature, "\n".join(body) or "    pass")


def _generate_encoders(
    cls: Any, fixed: tuple[FieldInfo, ...], variadic: FieldInfo | None, ns: dict[str, Any]
) -> None:
    """Generate ``fields()`` and ``encode()`` (one f-string)."""
    name = cls.__name__
    code = int(getattr(cls, cls._code_attr))
    code_index: int = cls._code_index
    exprs = [info.kind.encode_expr(f"self.{info.name}") for info in fixed]
    for info in fixed:
        ns.update(info.kind.encode_namespace())
    exprs.insert(code_index, repr(str(code)))
    tail = f" + list(self.{variadic.name})" if variadic else ""
    fields_src = f"def fields(self):\n    return [{', '.join(exprs)}]{tail}\n"
    cls.fields = _build(name, fields_src, ns, "fields")
    parts = [info.kind.fstring_field(f"self.{info.name}") for info in fixed]
    parts.insert(code_index, str(code))  # a constant: written as literal text
    fstring = "\\n".join(parts)
    if variadic:
        encode_src = (
            "def encode(self):\n"
            f'    return (f"{fstring}" + "".join(["\\n" + x for x in self.{variadic.name}])'
            ' + "\\r\\n").encode()\n'
        )
    else:
        encode_src = f'def encode(self):\n    return f"{fstring}\\r\\n".encode()\n'
    cls.encode = _build(name, encode_src, ns, "encode")


def _generate_parser(
    cls: Any, fixed: tuple[FieldInfo, ...], variadic: FieldInfo | None, ns: dict[str, Any]
) -> None:
    """Generate ``_parse_fields(f)``: an instance, or `ProtocolError` naming the field.

    Also ``_parse_known(f)``, the same without the check of the code, for
    dispatchers that chose the class by the code's text.
    """
    name = cls.__name__
    code = int(getattr(cls, cls._code_attr))
    code_index: int = cls._code_index
    wire_index = [i if i < code_index else i + 1 for i in range(len(fixed))]
    lines = []
    for i, info in enumerate(fixed):
        ns[f"_p{i}"] = info.kind.parse_function()
        ns.update(info.kind.parse_namespace())
        value = info.kind.parse_expr(f"f[{wire_index[i]}]", f"_p{i}")
        lines.append(f"    self.{info.name} = {value}")
    n_fixed = len(fixed) + 1
    if variadic:
        lines.append(f"    self.{variadic.name} = tuple(f[{n_fixed}:])")
        count_check, expected = f"len(f) < {n_fixed}", f"at least {n_fixed}"
    else:
        count_check, expected = f"len(f) != {n_fixed}", str(n_fixed)
    parse_body = "\n".join("    " + line for line in lines)
    code_check = (
        f"        c = f[{code_index}]\n"
        f"        if c != {str(code)!r} and int(c) != {code}:\n"
        f"            raise ProtocolError(f'{name}: expected code {code}, got {{c!r}}', f)\n"
    )
    count_error = f"ProtocolError(f'{name}: expected {expected} fields, got {{len(f)}}', f)"
    for func_name, check in (("_parse_fields", code_check), ("_parse_known", "")):
        parse_src = (
            f"def {func_name}(f):\n"
            f"    if {count_check}:\n"
            f"        raise {count_error}\n"
            "    try:\n"
            f"{check}"
            "        self = _new(_cls)\n"
            f"{parse_body}\n"
            "    except ProtocolError:\n"
            "        raise\n"
            "    except (ValueError, IndexError):\n"
            "        raise _explain(_cls, f) from None\n"
            "    except KeyError:\n"
            "        return _parse_slow(_cls, f)\n"
            "    return self\n"
        )
        setattr(cls, func_name, staticmethod(_build(name, parse_src, ns, func_name)))


def _named_coercer(cls_name: str, info: FieldInfo) -> Callable[[Any], Any]:
    coerce = info.kind.coerce

    def coercer(value: Any) -> Any:
        try:
            return coerce(value)
        except ValueError as e:
            raise ValueError(f"{cls_name}.{info.name}: {e}") from None

    return coercer


class Message(metaclass=MessageMeta):
    """Base class of commands and replies.

    Subclasses declare their fields with `field`; see the module docstring.

    Attributes
    ----------
    field_infos : `tuple` [`FieldInfo`]
        The message's fields after the code, in wire order (class attribute).
    """

    __slots__ = ()
    _abstract: ClassVar[bool] = True
    _code_index: ClassVar[int] = 0
    _code_attr: ClassVar[str] = ""
    field_infos: ClassVar[tuple[FieldInfo, ...]] = ()

    def __init__(self, **kwargs: Any) -> None:  # replaced by the generated one
        raise TypeError(f"{type(self).__name__} is abstract; instantiate a concrete message")

    def fields(self) -> list[str]:
        """Return the message as its list of wire fields (no terminator)."""
        raise NotImplementedError

    def encode(self) -> bytes:
        """Return the message as one wire frame, terminator included."""
        raise NotImplementedError

    @classmethod
    def _parse_fields(cls, fields: list[str]) -> Any:
        raise NotImplementedError

    @classmethod
    def _parse_known(cls, fields: list[str]) -> Any:  # _parse_fields less the code check
        raise NotImplementedError

    @classmethod
    def from_fields(cls, fields: list[str]) -> Any:
        """Parse wire fields (code included) into an instance of this class.

        Raises
        ------
        ProtocolError
            If the fields do not describe a valid message of this class.
        """
        return cls._parse_fields(fields)

    def str_fields(self) -> list[str]:
        """Return the message as its list of wire fields (the same as `fields`).

        The name used by the original mount classes.
        """
        return self.fields()

    @classmethod
    def from_str_fields(cls, fields: Sequence[str]) -> Any:
        """Parse wire fields (code included); the original classes' name for `from_fields`.

        Raises
        ------
        ProtocolError
            If the fields do not describe a valid message of this class.
        """
        return cls.from_fields(list(fields))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.fields() == other.fields()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.field_infos)
        return f"{type(self).__name__}({args})"


def _parse_slow(cls: Any, fields: list[str]) -> Any:
    """Parse fields of the right count and code with each kind's `parse` (the slow path).

    The generated parser falls back to this when a look-up of canonical text
    misses (an enum written as ``01``, say); it gives the same instance or the
    same `ProtocolError` as the generated code does.
    """
    self = object.__new__(cls)
    try:
        for i, info in enumerate(cls.field_infos):
            if info.kind.variadic:
                setattr(self, info.name, tuple(fields[i + 1 :]))
                break
            setattr(self, info.name, info.kind.parse(fields[i if i < cls._code_index else i + 1]))
    except (ValueError, IndexError):
        raise _explain(cls, fields) from None
    return self


def _explain(cls: Any, fields: list[str]) -> ProtocolError:
    """Find which field of ``fields`` made ``cls`` fail to parse (slow path)."""
    for i, info in enumerate(cls.field_infos):
        if info.kind.variadic:
            break
        text = fields[i if i < cls._code_index else i + 1]
        try:
            info.kind.parse(text)
        except ValueError as e:
            return ProtocolError(
                f"{cls.__name__}.{info.name}: expected {info.kind.type_name}, got {text!r} ({e})",
                fields,
            )
    return ProtocolError(f"{cls.__name__}: cannot parse fields {fields!r}", fields)
