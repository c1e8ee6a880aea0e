"""Logging: structlog events carried by stdlib logging.

mountcomm logs snake_case event names with key/value context, e.g.
``log.info("client_connected", host=host, port=port)``.

The library is silent until the application configures logging. With
``log=None`` a component logs through the stdlib logger named after its module
(``mountcomm.net.client_server_pair``, ``mountcomm.sim.controller``, ...), via
structlog's stdlib integration: each event becomes one `logging.LogRecord`
whose message is ``event='...' key=value ...`` and whose ``mountcomm_event``
attribute holds the event's dictionary. The library never configures structlog
globally and installs no handler except the `logging.NullHandler` on the
``mountcomm`` logger that the Python documentation prescribes for libraries (it
keeps `logging.lastResort` from printing warnings when nothing is configured).
In pytest the records land in ``caplog``.

Programs call `configure` once (the ``mountcomm`` command does) to print the
records as console lines or JSON objects.
"""

from __future__ import annotations

__all__ = [
    "EVENT_ATTRIBUTE",
    "ROOT_LOGGER",
    "Logger",
    "capture_events",
    "configure",
    "configured",
    "get_logger",
]

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor

Logger = Any
"""Type of the loggers returned by `get_logger` (structlog bound loggers, or objects with
their methods that make one when first used)."""

ROOT_LOGGER = "mountcomm"
"""Name of the stdlib logger at the top of the library's hierarchy."""

EVENT_ATTRIBUTE = "mountcomm_event"
"""`logging.LogRecord` attribute holding a library event's key/value dictionary."""

logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}; expected one of {sorted(_LEVELS)}"
        ) from None


# --- the library side: structlog loggers over stdlib loggers ---------------------

_KEY_VALUE = structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True)


def _render_for_stdlib(
    logger: Any, method_name: str, event_dict: EventDict
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Hand one event to the stdlib logger.

    The message is key=value text (readable with any handler); the dictionary
    rides along as the record's `EVENT_ATTRIBUTE` for structured output;
    ``exc_info`` goes to the stdlib logger for its handlers to format once.
    """
    exc_info = event_dict.pop("exc_info", None)
    kwargs: dict[str, Any] = {"extra": {EVENT_ATTRIBUTE: dict(event_dict)}}
    if exc_info:
        kwargs["exc_info"] = exc_info
    return (_KEY_VALUE(logger, method_name, event_dict),), kwargs


_STDLIB_PROCESSORS: list[Processor] = [_render_for_stdlib]

_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class _StdlibBoundLogger(structlog.stdlib.BoundLogger):
    """A stdlib `BoundLogger` that drops a disabled event before any processing.

    (`structlog.stdlib.filter_by_level` does the same as a processor, after
    the event dictionary is built, and by raising an exception.)
    """

    def _proxy_to_logger(
        self, method_name: str, event: str | None = None, *event_args: str, **event_kw: Any
    ) -> Any:
        level = _METHOD_LEVELS.get(method_name, logging.NOTSET)
        if not self._logger.isEnabledFor(level):
            return None
        return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)


def _event_method(name: str, level: int) -> Callable[..., Any]:
    """The event method ``name`` of `_LazyBoundLogger`: nothing made while ``level`` is off."""

    def method(self: _LazyBoundLogger, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._stdlib.isEnabledFor(level):
            return getattr(self._bind_now(), name)(event, *args, **kw)
        return None

    method.__name__, method.__qualname__ = name, f"_LazyBoundLogger.{name}"
    return method


class _LazyBoundLogger:
    """A stdlib logger and its context, bound into a `_StdlibBoundLogger` when first used.

    What `get_logger` returns for a stdlib logger or `None`: every library
    object keeps one, and most never log an event that is enabled (a
    `Communicator` logs at ``info`` and below; programs run at ``warning``).
    An event method whose level is disabled returns at once; an enabled one,
    and any other attribute of a structlog bound logger, goes to the bound
    logger, made on first use and kept, so the records are those of the
    bound logger itself.

    The context is ``{"component": component, **extra}`` while ``component``
    is set, else ``extra`` alone (after `new`, `unbind` or `try_unbind`).
    """

    __slots__ = ("_bound", "_component", "_extra", "_stdlib")

    def __init__(
        self, stdlib: logging.Logger, component: str | None, extra: dict[str, Any] | None
    ) -> None:
        self._stdlib = stdlib
        self._component = component
        self._extra = extra or None
        self._bound: _StdlibBoundLogger | None = None

    def _context(self) -> dict[str, Any]:
        """A new dictionary of the context."""
        extra = self._extra
        if self._component is None:
            return {} if extra is None else dict(extra)
        if extra is None:
            return {"component": self._component}
        return {"component": self._component, **extra}

    def _bind_now(self) -> _StdlibBoundLogger:
        bound = self._bound
        if bound is None:
            bound = self._bound = _StdlibBoundLogger(
                self._stdlib, _STDLIB_PROCESSORS, self._context()
            )
        return bound

    def __getattr__(self, name: str) -> Any:
        # Only for what the slots and methods here do not have (a slot not yet
        # set, as in a copy being made, must not recurse through _bind_now).
        if name.startswith("__") or name in _LazyBoundLogger.__slots__:
            raise AttributeError(name)
        return getattr(self._bind_now(), name)

    def __repr__(self) -> str:
        return repr(self._bind_now())

    # --- the events: nothing is made while their level is disabled ---------------------

    debug = _event_method("debug", logging.DEBUG)
    info = _event_method("info", logging.INFO)
    warning = warn = _event_method("warning", logging.WARNING)
    error = _event_method("error", logging.ERROR)
    exception = _event_method("exception", logging.ERROR)
    critical = fatal = _event_method("critical", logging.CRITICAL)

    def log(self, level: int, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if level in _LEVEL_NAMES and not self._stdlib.isEnabledFor(level):
            return None
        return self._bind_now().log(level, event, *args, **kw)

    # --- context: new loggers, as a bound logger's methods make them -----------------

    def bind(self, **new_values: Any) -> _LazyBoundLogger:
        """A new logger with ``new_values`` added to the context."""
        component = self._component
        if component is None or new_values.get("component", component) is None:
            return _LazyBoundLogger(self._stdlib, None, {**self._context(), **new_values})
        component = new_values.pop("component", component)
        extra = self._extra
        return _LazyBoundLogger(
            self._stdlib, component, new_values if extra is None else {**extra, **new_values}
        )

    def new(self, **new_values: Any) -> _LazyBoundLogger:
        """Clear the context (this logger's too, as structlog does) and bind ``new_values``."""
        self._component = self._extra = None
        if self._bound is not None:
            self._bound.new()  # clears its context
        return _LazyBoundLogger(self._stdlib, None, new_values)

    def unbind(self, *keys: str) -> _LazyBoundLogger:
        """A new logger without ``keys`` in the context; `KeyError` if one is missing."""
        context = self._context()
        for key in keys:
            del context[key]
        return _LazyBoundLogger(self._stdlib, None, context)

    def try_unbind(self, *keys: str) -> _LazyBoundLogger:
        """Like `unbind`, but missing keys are ignored."""
        context = self._context()
        for key in keys:
            context.pop(key, None)
        return _LazyBoundLogger(self._stdlib, None, context)


_LEVEL_NAMES = frozenset(_LEVELS.values())
"""The levels a bound logger's ``log`` knows (others raise `KeyError` there)."""


def _caller_module(depth: int) -> str:
    """The ``__name__`` of the module ``depth`` frames up (``mountcomm`` if unknown)."""
    try:
        name = sys._getframe(depth + 1).f_globals.get("__name__")  # private-access: stdlib frame
    except ValueError:  # not that many frames
        name = None
    if isinstance(name, str) and (name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + ".")):
        return name
    return ROOT_LOGGER


def get_logger(log: Any, component: str, **context: Any) -> Logger:
    """Return a structlog logger for one component.

    Parameters
    ----------
    log : `logging.Logger`, structlog logger or `None`
        Where to log.

        * `None`: the stdlib logger named after the calling module of the
          ``mountcomm`` package (e.g. ``mountcomm.net.server``; ``mountcomm``
          when called from elsewhere). Silent until the application configures
          logging.
        * A stdlib logger: its child named after ``component`` receives each
          event as one record (see the module docstring).
        * A structlog logger: bound with ``component`` and used as it is.
    component : `str`
        Name of the component, e.g. ``"Communicator(csc)"``; bound as the
        ``component`` key.
    **context
        Extra key/value context bound to every event.

    Returns
    -------
    logger
        A structlog bound logger. For a stdlib logger or `None`, an object
        with its methods that makes the bound logger when it is first used
        (an event whose level the stdlib logger has disabled makes nothing),
        so that the many library objects that never log an enabled event
        hold no more than their stdlib logger and context.

    Raises
    ------
    TypeError
        If ``log`` is none of the above.
    """
    if log is None:
        return _LazyBoundLogger(logging.getLogger(_caller_module(1)), component, context)
    if isinstance(log, logging.Logger):
        return _LazyBoundLogger(log.getChild(component), component, context)
    if hasattr(log, "bind") and callable(log.bind):
        return log.bind(component=component, **context)
    raise TypeError(f"log must be a logging.Logger, a structlog logger or None, not {log!r}")


# --- the program side: print the records ------------------------------------------


def _event_from_record(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Recover a library event's dictionary from a stdlib record (other records pass)."""
    record = event_dict.get("_record")
    carried = getattr(record, EVENT_ATTRIBUTE, None)
    if not isinstance(carried, dict):
        return event_dict
    restored = dict(carried)
    for key in ("_record", "_from_structlog", "exc_info", "stack_info"):
        if key in event_dict:
            restored[key] = event_dict[key]
    return restored


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # emit runs under the handler's lock
        super().emit(record)


def _formatter(format: str) -> logging.Formatter:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_event_from_record],
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure(
    format: Literal["console", "json"] = "console",
    level: str | int = "info",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Print log records, as a program's ``main`` does once at start-up.

    Installs one handler on the root logger (replacing one that an earlier
    call installed), sets the root level, and routes `structlog.get_logger`
    through stdlib logging so that the program's own structlog events share the
    output. Libraries never call this.

    Parameters
    ----------
    format : ``"console"`` or ``"json"``
        Human-readable console lines, or one JSON object per line.
    level : `str` or `int`
        Minimum level to emit (``"debug"``, ``"info"``, ...).
    stream : file-like, optional
        Where to write; default the current `sys.stderr` at each record.

    Returns
    -------
    handler : `logging.Handler`
        The handler installed on the root logger.

    Raises
    ------
    ValueError
        If ``format`` or ``level`` is not known.
    """
    if format not in ("console", "json"):
        raise ValueError(f"unknown log format {format!r}; expected 'console' or 'json'")
    number = _level_number(level)
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(_formatter(format))
    setattr(handler, _CONFIGURED, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _CONFIGURED, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return handler


_CONFIGURED = "_mountcomm_configured"


@contextlib.contextmanager
def configured(
    format: Literal["console", "json"] = "console",
    level: str | int = "info",
    stream: TextIO | None = None,
) -> Iterator[logging.Handler]:
    """`configure` for the duration of a ``with`` block, then undo it.

    Restores the root logger's handlers and level and structlog's configuration
    (the ``mountcomm`` command runs inside one, so that calling its ``main`` in
    a test leaves no trace).
    """
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_structlog = structlog.get_config()
    try:
        yield configure(format, level, stream)
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)


# --- tests: collect the events -----------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self, level: int, events: list[EventDict]) -> None:
        super().__init__(level)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, EVENT_ATTRIBUTE, None)
        if isinstance(event, dict):
            self.events.append({**event, "log_level": record.levelname.lower()})


@contextlib.contextmanager
def capture_events(
    name: str = ROOT_LOGGER, level: str | int = logging.DEBUG
) -> Iterator[list[EventDict]]:
    """Collect the events logged under ``name`` inside the ``with`` block.

    The stdlib counterpart of `structlog.testing.capture_logs`, for the
    library's loggers: yields a list that fills with one dictionary per event
    (``event``, the key/value context, and ``log_level``).

    Parameters
    ----------
    name : `str`, optional
        The stdlib logger whose events (and its children's) are collected.
    level : `str` or `int`, optional
        Lowest level collected; the logger's level is lowered to it inside the
        block and restored afterwards.
    """
    number = _level_number(level)
    logger = logging.getLogger(name)
    events: list[EventDict] = []
    handler = _Collector(number, events)
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(number)
    try:
        yield events
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
