"""`mountcomm.log`: structlog set-up and the loggers library classes accept."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from mountcomm import log as mlog
from mountcomm.protocol import commands
from mountcomm.testing.harness import connected_communicator_pair
from tests.timing import UNIT


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`configure` changes the root logger and structlog: put them back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


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


def test_configure_replaces_its_own_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    mlog.configure("json", stream=first)
    mlog.configure("json", stream=second)
    mlog.get_logger(None, "test").warning("once")
    assert first.getvalue() == ""
    assert [line["event"] for line in json_lines(second)] == ["once"]


def test_configure_prints_other_records_and_structlog_events_too() -> None:
    stream = io.StringIO()
    mlog.configure("json", stream=stream)
    logging.getLogger("asyncio").warning("Task exception was never retrieved %s", "x")
    structlog.get_logger("app").warning("app_event", n=1)
    foreign, own = json_lines(stream)
    assert (foreign["logger"], foreign["event"]) == (
        "asyncio",
        "Task exception was never retrieved x",
    )
    assert (own["logger"], own["event"], own["n"]) == ("app", "app_event", 1)


def test_configured_undoes_itself(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    with mlog.configured("console", "debug"):
        assert root.level == logging.DEBUG
        mlog.get_logger(None, "test").debug("shown")
    assert (list(root.handlers), root.level) == before
    mlog.get_logger(None, "test").warning("not_printed")
    out, err = capsys.readouterr()
    assert out == ""
    assert "shown" in err and "not_printed" not in err


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


def _as_logged(records: list[logging.LogRecord]) -> list[tuple[Any, ...]]:
    return [
        (
            r.name,
            r.levelno,
            r.getMessage(),
            getattr(r, mlog.EVENT_ATTRIBUTE),
            r.exc_info[0] if r.exc_info else None,
            (r.pathname, r.lineno, r.funcName),
        )
        for r in records
    ]


def _log_every_method(logger: Any) -> None:
    logger.debug("d", n=1)
    logger.info("i", n=2)
    logger.warning("w", n=3)
    logger.warn("w2")
    logger.error("e", n=4)
    logger.critical("c")
    logger.fatal("f")
    logger.log(logging.INFO, "l", n=5)
    logger.log(logging.DEBUG, "l2")
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("x", n=6)
        logger.error("y", exc_info=True)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.ERROR])
def test_stdlib_logger_logs_as_a_bound_logger_made_at_once(
    caplog: pytest.LogCaptureFixture, level: int
) -> None:
    """Every event method gives the records of the library's bound logger made at once."""
    parent = logging.getLogger("mountcomm_test_methods")
    caplog.set_level(level, logger=parent.name)
    _log_every_method(mlog.get_logger(parent, "c", role="csc"))
    lazy = _as_logged(caplog.records)
    caplog.clear()
    eager = structlog.wrap_logger(
        parent.getChild("c"),
        processors=mlog._STDLIB_PROCESSORS,
        wrapper_class=mlog._StdlibBoundLogger,
        context_class=dict,
    ).bind(component="c", role="csc")
    _log_every_method(eager)
    assert lazy == _as_logged(caplog.records)
    assert len(lazy) == {logging.DEBUG: 11, logging.INFO: 9, logging.ERROR: 5}[level]


def test_disabled_events_bind_nothing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library object's logger is bound when it first logs an enabled event, once."""
    made: list[object] = []
    bound_logger = mlog._StdlibBoundLogger

    class Counting(bound_logger):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            made.append(self)
            super().__init__(*args)

    monkeypatch.setattr(mlog, "_StdlibBoundLogger", Counting)
    caplog.set_level(logging.WARNING, logger="mountcomm")
    logger = mlog.get_logger(None, "quiet", port=1)
    logger.debug("not_shown")
    logger.info("not_shown", n=1)
    logger.log(logging.INFO, "not_shown")
    assert made == []
    logger.warning("shown")
    logger.error("shown_too")
    assert len(made) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "event='shown' component='quiet' port=1",
        "event='shown_too' component='quiet' port=1",
    ]


def test_stdlib_logger_binds_as_a_bound_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mountcomm")
    base = mlog.get_logger(None, "c", role="csc")
    base.bind(port=1).info("bound")
    base.bind(component="d", role="other").info("replaced")
    base.unbind("role").info("unbound")
    base.try_unbind("role", "absent").info("tried")
    with pytest.raises(KeyError):
        base.unbind("absent")
    base.try_unbind("component").bind(component="e").info("moved")
    base.bind(component=None).info("none")
    base.info("unchanged")
    assert [getattr(r, mlog.EVENT_ATTRIBUTE) for r in caplog.records] == [
        {"event": "bound", "component": "c", "role": "csc", "port": 1},
        {"event": "replaced", "component": "d", "role": "other"},
        {"event": "unbound", "component": "c"},
        {"event": "tried", "component": "c"},
        {"event": "moved", "role": "csc", "component": "e"},
        {"event": "none", "component": None, "role": "csc"},
        {"event": "unchanged", "component": "c", "role": "csc"},
    ]
    assert [r.getMessage() for r in caplog.records][4] == ("event='moved' role='csc' component='e'")


@pytest.mark.parametrize("bind_first", [False, True])
def test_new_clears_the_context_as_a_bound_logger_does(
    caplog: pytest.LogCaptureFixture, bind_first: bool
) -> None:
    caplog.set_level(logging.INFO, logger="mountcomm")
    logger = mlog.get_logger(None, "c", role="csc")
    if bind_first:
        logger.info("before")
    fresh = logger.new(port=2)
    fresh.info("fresh")
    logger.info("cleared")
    events = [getattr(r, mlog.EVENT_ATTRIBUTE) for r in caplog.records]
    assert events[-2:] == [{"event": "fresh", "port": 2}, {"event": "cleared"}]


def test_stdlib_logger_has_a_bound_loggers_other_attributes() -> None:
    parent = logging.getLogger("mountcomm_test_attributes")
    parent.setLevel(logging.WARNING)
    logger = mlog.get_logger(parent, "c", role="csc")
    assert logger.name == "mountcomm_test_attributes.c"
    assert logger.getEffectiveLevel() == logging.WARNING
    assert not logger.isEnabledFor(logging.INFO)
    assert "'component': 'c'" in repr(logger) and "'role': 'csc'" in repr(logger)
    with pytest.raises(AttributeError):
        logger.msg("no_such_method")  # as on a stdlib bound logger
    copied = copy.copy(logger)
    assert copied.name == logger.name


def test_a_library_logger_given_as_log_is_bound(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("mountcomm_test_rebound")
    caplog.set_level(logging.INFO, logger=parent.name)
    outer = mlog.get_logger(parent, "outer", role="csc")
    mlog.get_logger(outer, "inner", port=3).info("event")
    (record,) = caplog.records
    assert record.name == "mountcomm_test_rebound.outer"
    assert getattr(record, mlog.EVENT_ATTRIBUTE) == {
        "event": "event",
        "component": "inner",
        "role": "csc",
        "port": 3,
    }


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


def test_none_logs_through_the_mountcomm_stdlib_hierarchy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mountcomm")
    mlog.get_logger(None, "registry").info("port_allocated", port=30001)
    (record,) = caplog.records
    assert record.name == "mountcomm"  # called from outside the package
    assert record.getMessage() == "event='port_allocated' component='registry' port=30001"
    assert getattr(record, mlog.EVENT_ATTRIBUTE) == {
        "event": "port_allocated",
        "component": "registry",
        "port": 30001,
    }


def test_none_names_the_logger_after_the_calling_module(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mountcomm")
    namespace = {"__name__": "mountcomm.sim.example", "get_logger": mlog.get_logger}
    exec("log = get_logger(None, 'Example')", namespace)
    namespace["log"].debug("stepped", dt=0.1)
    assert [(r.name, r.levelno) for r in caplog.records] == [("mountcomm.sim.example", 10)]


def test_none_respects_the_stdlib_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mountcomm")
    logger = mlog.get_logger(None, "quiet")
    logger.info("not_shown")
    logger.warning("shown")
    assert [r.getMessage().split()[0] for r in caplog.records] == ["event='shown'"]


def test_library_has_only_a_null_handler() -> None:
    handlers = logging.getLogger(mlog.ROOT_LOGGER).handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


@pytest.mark.parametrize("bad", ["mountcomm", 42, object(), print, {"bind": None}])
def test_anything_else_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"logging\.Logger"):
        mlog.get_logger(bad, "component")


# --- library objects ----------------------------------------------------------------


async def test_library_object_with_no_logger_prints_nothing(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mountcomm")
    async with connected_communicator_pair() as (console, controller):
        await console.write(commands.Enable(sequence_id=1))
        await asyncio.wait_for(controller.read(), 10 * UNIT)
    assert capsys.readouterr() == ("", "")
    names = {r.name for r in caplog.records}
    assert "mountcomm.net.client_server_pair" in names
    assert all(name.startswith("mountcomm.") for name in names), names
    assert any("client_connected" in r.getMessage() for r in caplog.records)


async def test_library_object_with_a_stdlib_logger(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("my_csc")
    caplog.set_level(logging.INFO, logger=parent.name)
    async with connected_communicator_pair(log=parent):
        pass
    connected = [r for r in caplog.records if "client_connected" in r.getMessage()]
    assert connected, caplog.text
    assert all(r.name.startswith("my_csc.") for r in connected)


def test_a_program_that_configures_nothing_sees_nothing() -> None:
    """No handler configured: not even warnings reach stderr (no `logging.lastResort`)."""
    script = (
        "import asyncio\n"
        "from mountcomm.log import get_logger\n"
        "from mountcomm.testing.harness import connected_communicator_pair\n"
        "async def main():\n"
        "    async with connected_communicator_pair():\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "get_logger(None, 'x').error('an_error', detail=1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_capture_events_collects_dictionaries_and_restores_the_level() -> None:
    logger = logging.getLogger("mountcomm")
    before = logger.level
    with mlog.capture_events() as events:
        mlog.get_logger(None, "c", role="csc").debug("stepped", dt=0.1)
    mlog.get_logger(None, "c").warning("after_the_block")
    assert events == [
        {"event": "stepped", "component": "c", "role": "csc", "dt": 0.1, "log_level": "debug"}
    ]
    assert logger.level == before
