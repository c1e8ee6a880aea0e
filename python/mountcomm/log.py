"""Structured logging set-up and logger adaptation.

mountcomm logs through structlog with snake_case event names and key/value
context, e.g. ``log.info("client_connected", host=host, port=port)``.

Library classes accept ``log`` as a stdlib `logging.Logger`, a structlog logger
or `None`; `get_logger` turns any of these into a structlog logger.
"""

from __future__ import annotations

__all__ = ["Logger", "configure", "get_logger"]

import logging
import sys
from typing import Any, Literal

import structlog

Logger = Any
"""Type of the loggers returned by `get_logger` (a structlog bound logger)."""

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


def configure(
    format: Literal["console", "json"] = "console",
    level: str | int = "info",
    stream: Any = None,
) -> None:
    """Configure structlog for a mountcomm program.

    Libraries never call this; programs (the ``mountcomm`` command, a user's
    ``main``) call it once at start-up.

    Parameters
    ----------
    format : ``"console"`` or ``"json"``
        Human-readable console lines, or one JSON object per line.
    level : `str` or `int`
        Minimum level to emit (``"debug"``, ``"info"``, ...).
    stream : file-like, optional
        Where to write; default `sys.stderr`.

    Raises
    ------
    ValueError
        If ``format`` or ``level`` is not known.
    """
    if format not in ("console", "json"):
        raise ValueError(f"unknown log format {format!r}; expected 'console' or 'json'")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


_KEY_VALUE = structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True)


def _render_for_stdlib(
    logger: Any, method_name: str, event_dict: structlog.typing.EventDict
) -> tuple[tuple[str], dict[str, Any]]:
    """Render key=value text; hand ``exc_info`` to the stdlib logger to format once."""
    exc_info = event_dict.pop("exc_info", None)
    return (_KEY_VALUE(logger, method_name, event_dict),), (
        {"exc_info": exc_info} if exc_info else {}
    )


def get_logger(log: Any, component: str, **context: Any) -> Logger:
    """Return a structlog logger for one component.

    Parameters
    ----------
    log : `logging.Logger`, structlog logger or `None`
        Where to log. A stdlib logger receives key=value rendered lines through a
        child logger named after ``component`` (tracebacks as the records'
        ``exc_info``, for its handlers to format); a structlog logger is bound with
        ``component``; `None` uses ``structlog.get_logger("mountcomm")``.
    component : `str`
        Name of the component, e.g. ``"Communicator(csc)"``.
    **context
        Extra key/value context bound to every event.

    Returns
    -------
    logger
        A structlog bound logger.
    """
    if log is None:
        return structlog.get_logger("mountcomm").bind(component=component, **context)
    if isinstance(log, logging.Logger):
        return structlog.wrap_logger(
            log.getChild(component),
            processors=[_render_for_stdlib],
            wrapper_class=structlog.stdlib.BoundLogger,
        ).bind(component=component, **context)
    if hasattr(log, "bind"):
        return log.bind(component=component, **context)
    raise TypeError(f"log must be a logging.Logger, a structlog logger or None, not {log!r}")
