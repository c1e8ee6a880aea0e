"""kill -9 scenarios: the simulator and the registry die under a command stream."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mountcomm import MountClient, PortRegistry
from mountcomm.registry.resume import STABLE_AFTER

from .procs import Child, free_port, registry_child, sim_child
from .stream import STUCK_BOUND, CommandStream, StreamStats

CONNECT_TIMEOUT = 10.0
RESOLVE_BOUND = 10.0


@dataclass
class KillResult:
    """What one kill scenario saw."""

    name: str
    kills: int = 0
    stuck: int = 0
    recovery: list[float] = field(default_factory=list)
    stream: StreamStats = field(default_factory=StreamStats)
    notes: list[str] = field(default_factory=list)


async def _restart(child: Child, prefix: str, attempts: int = 20) -> None:
    """Start ``child`` again, retrying while its fixed port is still held."""
    for attempt in range(attempts):
        try:
            await child.start(prefix)
            return
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05)


@asynccontextmanager
async def _registry(port: int) -> AsyncIterator[Child]:
    child = registry_child(port)
    await child.start("mountcomm registry: listening")
    try:
        yield child
    finally:
        await child.stop()


async def _kill_loop(
    result: KillResult, stream: CommandStream, victim: Child, prefix: str, kills: int
) -> None:
    """Kill ``victim`` ``kills`` times under load; record recovery after each restart."""
    rng = random.Random(8)
    first = await stream.done_after(0.0, STUCK_BOUND)
    if first is None:
        result.stuck += 1
        result.notes.append("no command completed before the first kill")
        return
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.02, 0.15))
        await victim.kill()
        result.kills += 1
        await _restart(victim, prefix)
        ready = time.monotonic()
        recovered = await stream.done_after(ready)
        if recovered is None:
            result.stuck += 1
            result.notes.append(f"stuck after kill {result.kills}")
            return
        result.recovery.append(recovered)


async def sim_on_fixed_ports(kills: int) -> KillResult:
    """Kill the simulator; it comes back on the same ports; the client reconnects."""
    result = KillResult("sim kill -9, fixed ports")
    command_port, reply_port = free_port(), free_port()
    sim = sim_child(command_port=command_port, reply_port=reply_port)
    await sim.start("READY")
    try:
        async with MountClient(
            "127.0.0.1",
            command_port,
            reply_port=reply_port,
            auto_reconnect=True,
            connect_timeout=CONNECT_TIMEOUT,
        ) as mount:
            async with CommandStream(mount) as stream:
                await _kill_loop(result, stream, sim, "READY", kills)
            result.stream = stream.stats
    finally:
        await sim.stop()
    return result


async def sim_through_registry(kills: int) -> KillResult:
    """Kill the simulator; it comes back on new ports, found through the registry."""
    result = KillResult("sim kill -9, via registry")
    registry_port = free_port()
    async with _registry(registry_port):
        sim = sim_child(registry_port=registry_port)
        await sim.start("READY")
        try:
            async with (
                PortRegistry("127.0.0.1", registry_port, reconnect=True) as registry,
                MountClient(
                    None,
                    0,
                    registry=registry,
                    auto_reconnect=True,
                    connect_timeout=CONNECT_TIMEOUT,
                ) as mount,
            ):
                async with CommandStream(mount) as stream:
                    await _kill_loop(result, stream, sim, "READY", kills)
                result.stream = stream.stats
        finally:
            await sim.stop()
    return result


async def _services_back(port: int, names: tuple[str, ...], since: float) -> float | None:
    """Time from ``since`` until the registry on ``port`` lists every name again."""
    deadline = since + RESOLVE_BOUND
    async with PortRegistry("127.0.0.1", port, timeout=2.0) as probe:
        while time.monotonic() < deadline:
            held = {entry.service for entry in await probe.list_ports()}
            if held.issuperset(names):
                return time.monotonic() - since
            await asyncio.sleep(0.01)
    return None


async def registry_kills(kills: int) -> KillResult:
    """Kill the registry; peers re-register and commands flow on."""
    result = KillResult("registry kill -9")
    registry_port = free_port()
    registry = registry_child(registry_port)
    await registry.start("mountcomm registry: listening")
    sim = sim_child(registry_port=registry_port)
    try:
        await sim.start("READY")
        async with (
            PortRegistry("127.0.0.1", registry_port, reconnect=True) as client,
            MountClient(
                None, 0, registry=client, auto_reconnect=True, connect_timeout=CONNECT_TIMEOUT
            ) as mount,
        ):
            async with CommandStream(mount) as stream:
                names = ("mount.csc.command", "mount.csc.reply")
                for _ in range(kills):
                    # Let the clients' connections live past the point where
                    # their reconnection backoff starts afresh, as between
                    # two real restarts.
                    await asyncio.sleep(STABLE_AFTER + 0.2)
                    await registry.kill()
                    result.kills += 1
                    await _restart(registry, "mountcomm registry: listening")
                    ready = time.monotonic()
                    back = await _services_back(registry_port, names, ready)
                    flowing = await stream.done_after(ready)
                    if back is None or flowing is None:
                        result.stuck += 1
                        result.notes.append(
                            f"after kill {result.kills}: services back {back}, commands {flowing}"
                        )
                        break
                    result.recovery.append(max(back, flowing))
            result.stream = stream.stats
    finally:
        await sim.stop()
        await registry.stop()
    return result
