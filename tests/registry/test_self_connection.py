"""Registry clients and TCP self-connections, forced in a private network namespace.

In a namespace whose ephemeral port range holds only the registry's port, a
client that connects to that port while nobody listens is handed that very
port as its local port, and TCP's simultaneous open connects it to itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from .conftest import T

pytestmark = pytest.mark.skipif(
    not (
        sys.platform.startswith("linux")
        and hasattr(os, "getuid")
        and os.getuid() == 0
        and shutil.which("unshare")
        and shutil.which("ip")
    ),
    reason="needs root, Linux, unshare and ip (a private network namespace)",
)

_PRELUDE = """
import asyncio, json, logging, os, subprocess

UNIT = float(os.environ.get("MOUNTCOMM_TEST_TIMEOUT_FACTOR", "1"))  # tests/timing.py

P = 40001


def port_range(lo, hi):
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write(f"{lo} {hi}\\n")


subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []
        self.event = asyncio.Event()

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))
        self.event.set()

    def count(self, word, level=None):
        return sum(1 for lv, m in self.records if word in m and level in (None, lv))


def logger():
    records = Records()
    log = logging.getLogger("selfconn")
    log.addHandler(records)
    log.setLevel(logging.DEBUG)
    return log, records
"""


def run_in_namespace(script: str) -> dict[str, object]:
    code = textwrap.dedent(_PRELUDE) + textwrap.dedent(script)
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=6 * T,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_port_registry_first_connection_refuses_itself() -> None:
    result = run_in_namespace(
        """
        from mountcomm.registry import PortRegistry

        async def main():
            port_range(P, P)  # every connection to P reaches itself
            log, records = logger()
            client = PortRegistry("127.0.0.1", P, timeout=1.0, log=log)
            try:
                await client.connect()
                outcome = "connected"
            except TimeoutError as e:
                outcome = str(e)
            await client.close()
            print(json.dumps({
                "outcome": outcome,
                "warnings": records.count("registry_self_connection", "WARNING"),
                "attempts": records.count("registry_self_connection"),
            }))

        asyncio.run(main())
        """
    )
    assert "could not connect to the registry at 127.0.0.1:40001" in str(result["outcome"])
    assert result["warnings"] == 1  # logged once, then at debug level
    assert int(result["attempts"]) >= 2  # retried with backoff


def test_port_registry_reconnection_skips_self_connections() -> None:
    result = run_in_namespace(
        """
        import socket, struct
        from mountcomm.registry import PortRegistry, RegistryServer

        async def main():
            port_range(P, P + 1)
            listening = []

            async def one_shot(reader, writer):
                # a daemon that answers the registration, stops listening, then resets
                request = json.loads(await reader.readline())
                listening[0].close()
                writer.write(json.dumps({
                    "id": request["id"], "ok": True, "port": 5000, "service": "svc",
                    "user": "root",
                }).encode() + b"\\n")
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                port_range(P, P)  # from now on, every connection to P reaches itself
                writer.transport.abort()

            listening.append(await asyncio.start_server(one_shot, "127.0.0.1", P))
            log, records = logger()
            client = PortRegistry("127.0.0.1", P, timeout=2.0, reconnect=True, log=log)
            await client.register("svc", 5000)
            while not records.count("registry_self_connection"):
                records.event.clear()
                await asyncio.wait_for(records.event.wait(), 5 * UNIT)
            port_range(P, P + 1)
            server = None
            for _ in range(100):  # an attempt in flight may hold P for a moment
                try:
                    server = RegistryServer("127.0.0.1", P, pool=None)
                    await server.start()
                    break
                except OSError:
                    records.event.clear()
                    await asyncio.wait_for(records.event.wait(), 5 * UNIT)
            await asyncio.wait_for(client.wait_connected(), 10 * UNIT)
            entries = [e.as_dict() for e in await client.list_ports()]
            await client.close()
            await server.close()
            await listening[0].wait_closed()
            print(json.dumps({
                "entries": entries,
                "warnings": records.count("registry_self_connection", "WARNING"),
                "lost_records": records.count("reregister_failed"),
            }))

        asyncio.run(main())
        """
    )
    # the self-connection was not taken for a daemon: the entry came back
    entries = result["entries"]
    assert isinstance(entries, list)
    assert [(e["port"], e["service"]) for e in entries] == [(5000, "svc")]
    assert result["warnings"] == 1
    assert result["lost_records"] == 0


def test_port_manager_refuses_itself() -> None:
    result = run_in_namespace(
        """
        from mountcomm.exceptions import SelfConnectionError
        from mountcomm.registry import PortManager

        port_range(P, P)
        try:
            PortManager("127.0.0.1", P, timeout=0.5)
            outcome = "connected"
        except SelfConnectionError as e:
            outcome = "self: " + str(e)
        except OSError as e:
            outcome = "other: " + repr(e)
        print(json.dumps({"outcome": outcome}))
        """
    )
    assert str(result["outcome"]).startswith("self: connection to 127.0.0.1:40001 reached itself")


def test_etcd_gateway_refuses_itself() -> None:
    result = run_in_namespace(
        """
        from mountcomm.exceptions import SelfConnectionError
        from mountcomm.registry.cluster.gateway import GatewayConnection

        async def main():
            port_range(P, P)
            try:
                connection = await GatewayConnection.open("127.0.0.1", P, timeout=5 * UNIT)
                outcome = "connected"
                connection.close()
            except SelfConnectionError as e:
                outcome = "self: " + str(e)
            except OSError as e:
                outcome = "other: " + repr(e)
            print(json.dumps({"outcome": outcome}))

        asyncio.run(main())
        """
    )
    assert str(result["outcome"]).startswith("self: connection to 127.0.0.1:40001 reached itself")
