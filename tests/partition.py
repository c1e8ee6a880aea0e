"""A controller and a console on two hosts joined by a cable: the partition rig.

Used by the partition tests (``tests/integration/test_partition.py``) and the
chaos suite's partition scenario (``chaos/partition.py``). Built on `tests.netns`:
a `MockController` runs in namespace a, a `MountClient` (``auto_reconnect``) in
namespace b, and `PartitionRig.set_link` pulls or plugs the veth cable between them.

`CommandRecorder` runs a command stream in namespace b and records each
command's outcome (`Outcome`): its sequence id, when it started and ended
(``time.monotonic``, the same clock in every thread), and its error. With the
controller's record of executed commands (`PartitionRig.executed`) this tells
whether a command the client gave up on ran later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from mountcomm import MockController, MountClient, Source, commands
from mountcomm.commanding.lifecycle import ClientState
from mountcomm.exceptions import CommandTimeout, MountcommError
from mountcomm.sim import Executed, Timings
from tests.timing import UNIT

from .netns import NamespaceLoop, VethNetwork, veth_network

__all__ = [
    "ACK_TIMEOUT",
    "COMMAND_BOUND",
    "DONE_MARGIN",
    "CommandRecorder",
    "Outcome",
    "PartitionRig",
    "partition_rig",
    "pin_neighbours",
]

ACK_TIMEOUT = 1.0 * UNIT
"""The client's ACK timeout in the rig [s]."""

DONE_MARGIN = 0.5 * UNIT
"""The client's DONE margin in the rig [s]."""

COMMAND_BOUND = ACK_TIMEOUT + DONE_MARGIN + 1.0 * UNIT
"""Every command ends within this [s]: its ACK timeout, or its ACK's duration
(at most a few tens of ms with `Timings.fast`) plus the DONE margin, plus slack."""

SETUP_BOUND = 10 * UNIT
"""Bound on starting or stopping either side [s]."""

TYPED = (MountcommError, ConnectionError, TimeoutError)
"""The documented failures of `MountClient.run`; anything else is a bug."""


@dataclass
class Outcome:
    """How one command ended."""

    sequence_id: int
    """0 if it was refused before it got one (the client was reconnecting)."""
    started: float
    ended: float
    error: BaseException | None = None

    @property
    def duration(self) -> float:
        return self.ended - self.started

    @property
    def unknown(self) -> bool:
        """True for a `CommandTimeout` whose delivery is unknown (no ACK seen)."""
        return isinstance(self.error, CommandTimeout) and self.error.delivered == "unknown"

    @property
    def typed(self) -> bool:
        return self.error is None or isinstance(self.error, TYPED)


class CommandRecorder:
    """Commands back to back through ``mount`` from ``concurrency`` workers.

    Create, use and stop it on the loop that owns ``mount`` (namespace b's).
    A worker waits (bounded) while the client reconnects; it never cancels a
    command, so every command sent gets an `Outcome`.
    """

    def __init__(self, mount: MountClient, concurrency: int = 4) -> None:
        self.mount = mount
        self.outcomes: list[Outcome] = []
        self._changed = asyncio.Event()
        self._stopping = False
        self._workers = [
            asyncio.get_running_loop().create_task(self._work(i)) for i in range(concurrency)
        ]

    async def stop(self) -> list[Outcome]:
        """Let each worker finish its command, then stop; return the outcomes."""
        self._stopping = True
        async with asyncio.timeout(COMMAND_BOUND + SETUP_BOUND):
            await asyncio.gather(*self._workers)
        return list(self.outcomes)

    async def burst(self, count: int) -> None:
        """Send ``count`` more commands at once, besides the workers' (e.g. while partitioned)."""
        loop = asyncio.get_running_loop()
        for _ in range(count):
            cmd = commands.AskForCommand(commander=Source.CSC)
            self._workers.append(loop.create_task(self._one(cmd)))

    async def wait_for(self, test: Callable[[list[Outcome]], bool], bound: float) -> float:
        """Wait until ``test(outcomes)`` is true; return the time it became so.

        Raises
        ------
        TimeoutError
            If it is not true within ``bound`` seconds.
        """
        async with asyncio.timeout(bound):
            while not test(self.outcomes):
                self._changed.clear()
                await self._changed.wait()
        return time.monotonic()

    async def _work(self, index: int) -> None:
        while not self._stopping:
            if not self.mount.connected:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # look at _stopping now and then
                        await self.mount.wait_connected()
                continue
            # ACK then DONE; concurrent ones never supersede each other.
            await self._one(commands.AskForCommand(commander=Source.CSC))

    async def _one(self, cmd: commands.Command) -> None:
        started = time.monotonic()
        error: BaseException | None = None
        try:
            await self.mount.run(cmd)
        except Exception as e:  # recorded, judged by the caller
            error = e
        self.outcomes.append(Outcome(cmd.sequence_id or 0, started, time.monotonic(), error))
        self._changed.set()
        if error is not None:
            await asyncio.sleep(0)  # let the client take in the loss


@dataclass
class PartitionRig:
    """A controller in ``net.a`` and a `MountClient` in ``net.b`` (see the module doc)."""

    net: VethNetwork
    a: NamespaceLoop
    b: NamespaceLoop
    controller: MockController
    mount: MountClient
    link_changes: list[tuple[bool, float]] = field(default_factory=list)

    async def set_link(self, up: bool) -> float:
        """Plug or pull the cable; return the time (monotonic) it was done."""
        await asyncio.to_thread(self.net.set_link, up)
        now = time.monotonic()
        self.link_changes.append((up, now))
        return now

    async def executed(self) -> list[Executed]:
        """A snapshot of the controller's record of executed commands."""
        return await self.a.run(_snapshot, self.controller)

    async def start_recorder(self, concurrency: int = 4) -> CommandRecorder:
        """Start a command stream in namespace b."""
        return await self.b.run(_recorder, self.mount, concurrency)

    async def client_state_change(self, since: ClientState, bound: float) -> float:
        """Wait until the client's state is no longer ``since``; return when [monotonic].

        Polls every 10 ms: a measurement of when the client noticed, not a
        sequencing of the test.
        """
        return await self.b.run(_state_leaves, self.mount, since, bound)

    async def console_gone(self, bound: float) -> float:
        """Wait until the controller sees no console; return when [monotonic] (polls)."""
        return await self.a.run(_console_gone, self.controller, bound)

    async def wait_connected(self, bound: float) -> float:
        """Wait until the client is connected again, and the controller holds that
        connection as its console's; return when [monotonic].

        The client's connect succeeds as soon as the controller's kernel accepts it,
        which may be before the controller has seen the stale connection of before
        the partition end; until it has, it refuses the new one (one console per
        role). So the reconnection is complete only when both ends agree.
        """
        async with asyncio.timeout(bound):
            while True:
                local = await self.b.run(_command_address, self.mount)
                if local is not None and local == await self.a.run(_console_peer, self.controller):
                    return time.monotonic()
                await asyncio.sleep(0.01)  # polls both ends: a measurement, not a sequencing

    async def restart_controller(self) -> None:
        """Close the controller and start a new one on the same ports (a reboot)."""
        old = self.controller
        port = old.command_port(Source.CSC)
        reply_port = old.reply_port(Source.CSC)
        await self.a.run(_bounded_close, old)
        self.controller = await self.a.run(
            _start_controller,
            self.net.a.address,
            self.net.b.address,
            old.core.max_command_age,
            port,
        )
        await self.a.run(_connect_console, self.controller, reply_port, self.net.b.address)

    async def first_success(self, bound: float) -> float:
        """Run commands (retrying after typed errors) until one succeeds; return when."""
        return await self.b.run(_first_success, self.mount, bound)

    async def run(self, cmd: commands.Command, timeout: float) -> float:
        """Run one command from namespace b; return how long it took [s]."""
        return await self.b.run(_timed_run, self.mount, cmd, timeout)


@contextlib.asynccontextmanager
async def partition_rig(
    *,
    static_neighbours: bool = False,
    max_command_age: float | None = None,
    **client_options: Any,
) -> AsyncIterator[PartitionRig]:
    """Build the rig (needs root: see `tests.netns.require_root`); tear it down on exit.

    Parameters
    ----------
    static_neighbours : `bool`
        Pin each host's neighbour entry for the other (`pin_neighbours`): the
        cable is then pulled as if further away (a switch port), with no
        address resolution queueing packets on either host. Default: the
        console's own NIC loses its carrier, as when its cable is pulled.
    max_command_age : `float` or `None`
        The controller's ``max_command_age`` [s] (off by default, as in the
        library).
    **client_options
        Passed to `MountClient` (after the rig's own: ``auto_reconnect``,
        `ACK_TIMEOUT`, `DONE_MARGIN`).
    """
    with veth_network() as net:
        if static_neighbours:
            await asyncio.to_thread(pin_neighbours, net)
        async with net.a.loop() as a, net.b.loop() as b:
            controller = await a.run(
                _start_controller, net.a.address, net.b.address, max_command_age
            )
            rig: PartitionRig | None = None
            try:
                port = controller.command_port(Source.CSC)
                mount = await b.run(
                    _make_client, net.a.address, port, net.b.address, client_options
                )
                try:
                    reply_port = await b.run(mount.wait_reply_port)
                    await a.run(_connect_console, controller, reply_port, net.b.address)
                    await b.run(_bounded_start, mount)
                    rig = PartitionRig(net, a, b, controller, mount)
                    yield rig
                finally:
                    await asyncio.to_thread(net.set_link, True)  # a clean close
                    await b.run(_bounded_close, mount)
            finally:
                # restart_controller may have replaced it (the old one is closed).
                await a.run(_bounded_close, controller if rig is None else rig.controller)


def pin_neighbours(net: VethNetwork) -> None:
    """Make each host's neighbour (ARP) entry for the other permanent.

    Without it, a host whose link loses its carrier flushes its neighbour
    entries, and packets sent meanwhile wait in the kernel's address
    resolution queue (about 3 s on Linux defaults): if the link comes back
    in time they are sent then, even those of a socket that was reset since.
    """
    for here, there in ((net.a, net.b), (net.b, net.a)):
        if here.interface is None or there.interface is None:
            raise RuntimeError("pin_neighbours needs a veth network")
        shown = there.exec("ip", "-j", "link", "show", "dev", there.interface)
        mac = json.loads(shown.stdout)[0]["address"]
        here.exec(
            "ip", "neigh", "replace", there.address, "lladdr", mac,
            "dev", here.interface, "nud", "permanent",
        )  # fmt: skip


# --- run inside the namespaces' loops -------------------------------------------------------


async def _start_controller(
    address: str, console_address: str, max_command_age: float | None, port: int = 0
) -> MockController:
    controller = MockController(
        [Source.CSC],
        command_ports={Source.CSC: port},
        host=address,
        console_host=console_address,
        timings=Timings.fast(),
        commander=Source.CSC,
        max_command_age=max_command_age,
    )
    async with asyncio.timeout(SETUP_BOUND):
        await controller.start()
    return controller


async def _make_client(
    host: str, port: int, reply_host: str, options: dict[str, Any]
) -> MountClient:
    options = {
        "auto_reconnect": True,
        "ack_timeout": ACK_TIMEOUT,
        "done_margin": DONE_MARGIN,
        "connect_timeout": SETUP_BOUND,
        **options,
    }
    return MountClient(host, port, reply_port=0, reply_host=reply_host, **options)


async def _connect_console(controller: MockController, reply_port: int, host: str) -> None:
    controller.connect_console(Source.CSC, reply_port, host)


async def _bounded_start(mount: MountClient) -> None:
    async with asyncio.timeout(SETUP_BOUND):
        await mount.start()


async def _bounded_close(resource: MountClient | MockController) -> None:
    async with asyncio.timeout(SETUP_BOUND):
        await resource.close()


async def _snapshot(controller: MockController) -> list[Executed]:
    return list(controller.executed)


async def _recorder(mount: MountClient, concurrency: int) -> CommandRecorder:
    return CommandRecorder(mount, concurrency)


async def _poll(condition: Callable[[], bool], bound: float) -> float:
    # Neither side has a public "connection lost" event; a 10 ms poll measures
    # the moment closely enough, and sequences nothing.
    async with asyncio.timeout(bound):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return time.monotonic()


async def _state_leaves(mount: MountClient, state: ClientState, bound: float) -> float:
    return await _poll(lambda: mount.state is not state, bound)


async def _console_gone(controller: MockController, bound: float) -> float:
    return await _poll(lambda: not controller.console_connected(Source.CSC), bound)


async def _command_address(mount: MountClient) -> tuple[str, int] | None:
    """The local address of the client's command connection, or `None` when down."""
    writer = mount.communicator.client_writer
    if writer is None or writer.is_closing():
        return None
    host, port = writer.get_extra_info("sockname")[:2]
    return str(host), int(port)


async def _console_peer(controller: MockController) -> tuple[str, int] | None:
    return controller.console_peer(Source.CSC)


async def _timed_run(mount: MountClient, cmd: commands.Command, timeout: float) -> float:
    started = time.monotonic()
    await mount.run(cmd, timeout=timeout)
    return time.monotonic() - started


async def _first_success(mount: MountClient, bound: float) -> float:
    async with asyncio.timeout(bound):
        while True:
            try:
                await mount.wait_connected()
                await mount.run(commands.AskForCommand(commander=Source.CSC))
                return time.monotonic()
            except (ConnectionError, CommandTimeout):
                await asyncio.sleep(0)  # let the client take in the loss
