"""The demonstration runs end to end (a shortened plan) and reports what happened."""

from __future__ import annotations

import asyncio
import io

import pytest

from mountcomm.cli.demo import run_demo
from tests.timing import UNIT

from .demo_plan import SHORT_PLAN
from .launch import cli_process, interrupt


async def test_demo_runs_and_summarises() -> None:
    out = io.StringIO()
    status = await asyncio.wait_for(run_demo(SHORT_PLAN, out), 30 * UNIT)
    text = out.getvalue()
    assert status == 0, text
    assert "BothAxesMove" in text and "done" in text
    assert "azimuth   in position" in text and "elevation in position" in text
    assert "tracking targets: ACK latency median" in text
    assert "found the controller by name" in text
    assert "everything closed cleanly" in text


@pytest.mark.parametrize("moment", [b"MainPowerSupplyPower", b"slewing to", b"EnableTracking"])
async def test_ctrl_c_during_the_demo_is_one_line_and_status_130(moment: bytes) -> None:
    async with cli_process("demo", "--fast", ready=moment) as (proc, _):
        result = await interrupt(proc)
    assert result.returncode == 130, result
    assert result.stderr == "mountcomm demo: interrupted\n"  # no "Task exception was never ..."
