"""A TelemetryClient that reaches its own socket closes it, logs once and retries.

Forced in a private network namespace whose ephemeral port range holds only the
target port and one more (needs root; see ``selfconnect_script.py``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.timing import UNIT

SCRIPT = Path(__file__).with_name("selfconnect_script.py")


async def test_self_connection_is_detected_and_retried() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace (unshare -n)")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    proc = await asyncio.create_subprocess_exec(
        "unshare",
        "-n",
        sys.executable,
        str(SCRIPT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 50 * UNIT)
    assert proc.returncode == 0, (out + err).decode()
    status, self_connections, warnings, debug_lines = out.decode().split()
    assert status == "OK"
    assert int(self_connections) == 3  # each one detected, closed and retried
    assert int(warnings) == 1  # logged once as a warning
    assert int(debug_lines) == 2  # the later ones at debug level (sockets.SelfConnectionLog)
