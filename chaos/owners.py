"""Owners that die: their entries must go with them; other users must not win lookups."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

from mountcomm import PortRegistry

from .procs import Child, free_port, registry_child

GONE_BOUND = 5.0

# A minimal owner: no mountcomm import, so a hundred of them start quickly.
_OWNER = """
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
op = {"op": "allocate", "id": 1, "service": sys.argv[2]}
if len(sys.argv) > 3:
    server = socket.create_server(("127.0.0.1", 0))
    op = {"op": "register", "id": 1, "service": sys.argv[2], "port": server.getsockname()[1]}
s.sendall(json.dumps(op).encode() + b"\\n")
answer = json.loads(s.makefile().readline())
print("OWNER", answer.get("port", answer), flush=True)
time.sleep(3600)
"""


@dataclass
class OwnerResult:
    """What the owner-death scenario saw."""

    owners: int = 0
    registered: int = 0
    gone_after: float | None = None
    notes: list[str] = field(default_factory=list)


async def owner_deaths(count: int) -> OwnerResult:
    """``count`` owner processes register, are killed -9 together; entries must go."""
    result = OwnerResult(owners=count)
    port = free_port()
    registry = registry_child(port)
    await registry.start("mountcomm registry: listening")
    owners = [
        Child([sys.executable, "-S", "-c", _OWNER, str(port), f"chaos.owner.{i}"])
        for i in range(count)
    ]
    try:
        for start in range(0, count, 25):
            await asyncio.gather(*(o.start("OWNER") for o in owners[start : start + 25]))
        async with PortRegistry("127.0.0.1", port) as client:
            held = [e for e in await client.list_ports() if e.service.startswith("chaos.owner.")]
            result.registered = len(held)
            await asyncio.gather(*(o.kill() for o in owners))
            killed = time.monotonic()
            while time.monotonic() - killed < GONE_BOUND:
                entries = await client.list_ports()
                if not any(e.service.startswith("chaos.owner.") for e in entries):
                    result.gone_after = time.monotonic() - killed
                    break
                await asyncio.sleep(0.005)
    finally:
        await asyncio.gather(*(o.kill() for o in owners))
        await registry.stop()
    return result


@dataclass
class CrossUserResult:
    """What the cross-user scenario saw (root only)."""

    ran: bool = False
    untrusted_won: bool = False
    trusted_found: bool = False
    notes: list[str] = field(default_factory=list)


async def cross_user() -> CrossUserResult:
    """User nobody registers a name root uses; root's lookups must never pick it."""
    result = CrossUserResult()
    if os.geteuid() != 0:
        result.notes.append("skipped: needs root to run a process as another user")
        return result
    result.ran = True
    port = free_port()
    registry = registry_child(port)
    await registry.start("mountcomm registry: listening")
    intruder = Child(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-S",
            "-c",
            _OWNER,
            str(port),
            "chaos.victim",
            "register",
        ]
    )
    try:
        await intruder.start("OWNER")
        async with PortRegistry("127.0.0.1", port) as client:
            try:
                found = await client.wait_for("chaos.victim", timeout=0.5)
                result.untrusted_won = True
                result.notes.append(f"lookup returned the intruder's port {found}")
            except TimeoutError:
                pass
            server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
            own_port = server.sockets[0].getsockname()[1]
            try:
                await client.register("chaos.victim", own_port)
                found = await client.wait_for("chaos.victim", timeout=2.0)
                result.trusted_found = found == own_port
                if not result.trusted_found:
                    result.untrusted_won = True
                    result.notes.append(f"with both registered, lookup chose port {found}")
            finally:
                server.close()
                await server.wait_closed()
    finally:
        await intruder.kill()
        await registry.stop()
    return result
