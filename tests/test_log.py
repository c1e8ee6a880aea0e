"""`mountcomm.log`: structlog set-up and the loggers library classes accept."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from mountcomm import log as mlog


@pytest.fixture(autouse=True)
def restore_structlog() -> Iterator[None]:
    """`configure` changes global structlog state: put it back after each test."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --- configure ------------------------------------------------------------------


def test_json_format_one_object_per_line() -> None:
    stream = io.StringIO()
    mlog.configure("json", stream=stream)
    logger = mlog.get_logger(None, "Communicator(csc)", name="csc")
    logger.info("client_connected", host="127.0.0.1", port=50005)
    logger.warning("frame_skipped", reason="not UTF-8")
    first, second = json_lines(stream)
    assert first["event"] == "client_connected"
    assert first["component"] == "Communicator(csc)"
    assert first["name"] == "csc"
    assert (first["host"], first["port"]) == ("127.0.0.1", 50005)
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "frame_skipped"
    assert second["level"] == "warning"
    assert second["reason"] == "not UTF-8"


def test_json_includes_exceptions() -> None:
    stream = io.StringIO()
    mlog.configure("json", stream=stream)
    logger = mlog.get_logger(None, "test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("read_failed")
    (line,) = json_lines(stream)
    assert line["event"] == "read_failed"
    assert "RuntimeError: boom" in line["exception"]


@pytest.mark.parametrize("level", ["warning", "WARNING", logging.WARNING])
def test_level_filters(level: str | int) -> None:
    stream = io.StringIO()
    mlog.configure("json", level=level, stream=stream)
    logger = mlog.get_logger(None, "test")
    logger.debug("too_low")
    logger.info("too_low")
    logger.warning("shown")
    logger.error("shown_too")
    assert [line["event"] for line in json_lines(stream)] == ["shown", "shown_too"]


def test_console_format_is_for_people() -> None:
    stream = io.StringIO()
    mlog.configure("console", stream=stream)
    mlog.get_logger(None, "MountClient").info("command_sent", command="ElevationAxisMove")
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "command_sent" in text
    assert "command=ElevationAxisMove" in text
    assert "component=MountClient" in text
    assert "\x1b[" not in text  # no colour codes
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_configure_rejects_unknown_format_and_level() -> None:
    with pytest.raises(ValueError, match="log format"):
        mlog.configure("xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        mlog.configure("json", level="loud")


# --- get_logger -----------------------------------------------------------------


def test_stdlib_logger_receives_events(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("mountcomm_test_user")
    caplog.set_level(logging.DEBUG, logger=parent.name)
    logger = mlog.get_logger(parent, "Communicator(csc)", role="csc")
    logger.info("client_connected", port=50005)
    logger.debug("frame_read", size=12)
    info, debug = caplog.records
    assert info.levelno == logging.INFO
    assert debug.levelno == logging.DEBUG
    assert info.name == "mountcomm_test_user.Communicator(csc)"  # a child of the user's logger
    message = info.getMessage()
    assert message.startswith("event='client_connected'")
    assert "port=50005" in message
    assert "component='Communicator(csc)'" in message
    assert "role='csc'" in message
    assert "size=12" in debug.getMessage()


def test_stdlib_logger_level_is_respected(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("mountcomm_test_quiet")
    caplog.set_level(logging.WARNING, logger=parent.name)
    logger = mlog.get_logger(parent, "quiet")
    logger.info("not_shown")
    logger.warning("shown")
    assert [r.getMessage().split()[0] for r in caplog.records] == ["event='shown'"]


def test_stdlib_logger_gets_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("mountcomm_test_exc")
    caplog.set_level(logging.INFO, logger=parent.name)
    logger = mlog.get_logger(parent, "c")
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("callback_failed")
        logger.error("read_failed", exc_info=True)
    first, second = caplog.records
    for record in (first, second):
        assert record.levelno == logging.ERROR
        # The traceback goes to the stdlib logger once, as exc_info, not in the text.
        assert record.exc_info is not None
        assert record.exc_info[0] is KeyError
        assert "Traceback" not in record.getMessage()
        assert "exc_info" not in record.getMessage()
    assert first.getMessage() == "event='callback_failed' component='c'"
    assert second.getMessage() == "event='read_failed' component='c'"
    assert caplog.text.count("KeyError: 'missing'") == 2


def test_structlog_logger_is_bound() -> None:
    with capture_logs() as logs:
        base = structlog.get_logger().bind(app="demo")
        logger = mlog.get_logger(base, "OneClientServer(csc)", port=0)
        logger.info("server_listening", host="127.0.0.1")
    assert logs == [
        {
            "event": "server_listening",
            "log_level": "info",
            "app": "demo",
            "component": "OneClientServer(csc)",
            "port": 0,
            "host": "127.0.0.1",
        }
    ]


def test_none_uses_a_default_structlog_logger() -> None:
    with capture_logs() as logs:
        mlog.get_logger(None, "registry").info("port_allocated", port=30001)
    assert logs == [
        {"event": "port_allocated", "log_level": "info", "component": "registry", "port": 30001}
    ]


@pytest.mark.parametrize("bad", ["mountcomm", 42, object(), print, {"bind": None}])
def test_anything_else_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"logging\.Logger"):
        mlog.get_logger(bad, "component")
