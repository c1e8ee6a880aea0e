"""``mountcomm``'s shared pieces: argument types, the error funnel, logging and config options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import pytest

from mountcomm import config
from mountcomm.cli import _run, main
from mountcomm.cli import common as c
from mountcomm.config import ConfigError
from mountcomm.exceptions import ConnectionClosedError

from .launch import cli_process, interrupt, run_cli


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (c.port, "0", 0),
        (c.port, "65535", 65535),
        (c.server_port, "1", 1),
        (c.positive_float, "0.5", 0.5),
        (c.non_negative_float, "0", 0.0),
        (c.positive_int, "3", 3),
    ],
)
def test_argument_types_accept(parse: Callable[[str], Any], text: str, value: object) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (c.port, "70000", "port number 0…65535"),
        (c.port, "-1", "port number 0…65535"),
        (c.port, "http", "expected an integer"),
        (c.server_port, "0", "port number 1…65535"),
        (c.positive_float, "0", "> 0"),
        (c.positive_float, "-5", "> 0"),
        (c.positive_float, "inf", "finite"),
        (c.positive_float, "nan", "finite"),
        (c.non_negative_float, "-0.1", ">= 0"),
        (c.positive_int, "0", ">= 1"),
        (c.positive_int, "-3", ">= 1"),
        (c.positive_int, "2.5", "expected an integer"),
    ],
)
def test_argument_types_reject(parse: Callable[[str], Any], text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_describe_error_is_one_nonempty_line() -> None:
    assert c.describe_error(TimeoutError()) == "timed out"
    assert c.describe_error(ConnectionError()) == "ConnectionError"
    assert c.describe_error(ValueError("two\nlines")) == "two lines"


def raising(error: BaseException) -> argparse.Namespace:
    def run(args: argparse.Namespace) -> int:
        raise error

    return argparse.Namespace(run_subcommand=run)


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (c.CliError("bad flag", 2), 2, "bad flag"),
        (c.CliError("no luck"), 1, "no luck"),
        (ConfigError("f.yaml: host: expected a string"), 2, "f.yaml: host: expected a string"),
        (ConnectionRefusedError(111, "Connection refused"), 1, "[Errno 111] Connection refused"),
        (TimeoutError(), 1, "timed out"),
        (
            ExceptionGroup("tasks", [ConnectionClosedError("peer hung up")]),
            1,
            "peer hung up",
        ),
        (KeyError("x"), 1, "internal error: KeyError: 'x'"),
    ],
)
def test_every_failure_is_one_line_with_its_status(
    error: BaseException, status: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("mountcomm test", raising(error)) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"mountcomm test: {line}\n"


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--log-level", "loud", "config"], ["nosuch"], ["sim", "--csc-port", "70000"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and "(see mountcomm" in lines[0], lines


async def test_config_dump_prints_the_packaged_defaults() -> None:
    result = await run_cli("config", "--dump")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == config.default_text()


async def test_config_shows_the_values_in_effect_or_one_line(tmp_path: Any) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("telemetry: {port: 1234}\n")
    result = await run_cli("--config", str(path), "config")
    assert result.returncode == 0 and "port: 1234" in result.stdout
    path.write_text("telemetry: {port: 123456}\n")
    bad = await run_cli("config", "--config", str(path))
    assert bad.returncode == 2
    assert bad.error_lines == [f"mountcomm config: {path}: telemetry.port: {bad_port(123456)}"]


def bad_port(value: int) -> str:
    return f"expected a port number 0…65535, got {value}"


async def test_log_format_json_prints_library_events_as_json() -> None:
    args = ["--log-format", "json", "--log-level", "info", "sim", "--csc-port", "0"]
    async with cli_process(*args, "--telemetry-port", "0", ready=b"ready") as (proc, _):
        result = await interrupt(proc)
    assert result.returncode == 0, result
    events = [json.loads(line) for line in result.error_lines]
    assert {"sim_ready", "signal_received"} <= {e["event"] for e in events}
    assert all(e["logger"].startswith("mountcomm.") for e in events), events
    assert any(e["logger"] == "mountcomm.sim.controller" for e in events), events
