"""``mountcomm demo``: a simulated mount driven end to end, in one process.

A port registry, a `MockController` and a `MountClient` run in one process on
port 0 over real sockets; the client finds the controller by service name. It
takes command, powers the mount up, slews both axes while a progress
line follows the telemetry, tracks a moving target, stops, and prints a summary
of every command (ACK and DONE latencies against the announced duration) and of
the in-position events.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from collections.abc import Coroutine
from typing import Any, TextIO

from ..commanding.client import MountClient
from ..exceptions import CommandError
from ..protocol import Source, commands
from ..protocol.enums import InPositionAxis, TelemetryTopicId
from ..protocol.replies import InPositionReply, Reply
from ..registry.client import PortRegistry
from ..registry.server import RegistryServer
from ..sim.controller import MockController, tai_now
from ..sim.devices.base import Timings
from ..sim.telemetry import TelemetryClient
from ..telemetry.record import Recorder
from .common import CliError, first_error

NAME = "demo"
HELP = "drive a simulated mount end to end (takes about 20 s; --fast: about 5 s)"
LOG_LEVEL = "error"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the demo does: targets and durations."""

    timings: Timings
    azimuth: float
    elevation: float
    track_seconds: float
    track_rate: float  # [deg/s] on both axes while tracking
    telemetry_hz: float


NORMAL = Plan(
    Timings(), azimuth=60.0, elevation=60.0, track_seconds=5.0, track_rate=0.05, telemetry_hz=10.0
)
FAST = Plan(
    Timings.fast(0.1),
    azimuth=12.0,
    elevation=78.0,
    track_seconds=1.5,
    track_rate=0.05,
    telemetry_hz=20.0,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help="shorter moves and timings")
    parser.add_argument(
        "--plot", metavar="PNG", help="record the demo and plot it to PNG (mountcomm[plot])"
    )


def label(cmd: commands.Command) -> str:
    """The command's class name, with ``(on)`` / ``(off)`` for switching commands."""
    on = getattr(cmd, "on", None)
    return type(cmd).__name__ + ("" if on is None else "(on)" if on else "(off)")


@dataclasses.dataclass
class Record:
    """One command and its timing [s, from the start of the demo]."""

    name: str
    sent: float
    ack: float | None = None
    done: float | None = None
    announced: float | None = None
    outcome: str = "pending"


class Demo:
    """Runs the script against a controller and keeps the records."""

    def __init__(self, plan: Plan, out: TextIO) -> None:
        self.plan = plan
        self.out = out
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.records: list[Record] = []
        self.in_position: list[tuple[float, str, bool]] = []
        self.track_acks: list[float] = []
        self.recorder: Recorder | None = None

    def now(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        print(f"{self.now():7.2f} s  {text}", file=self.out, flush=True)

    def on_unsolicited(self, reply: Reply) -> None:
        if isinstance(reply, InPositionReply):
            axis = InPositionAxis(reply.what).name.lower()
            self.in_position.append((self.now(), axis, reply.in_position))

    async def run(self, mount: MountClient, cmd: commands.Command, quiet: bool = False) -> Record:
        """Send ``cmd`` and wait until it is done; record the timings."""
        record = Record(label(cmd), self.now())
        self.records.append(record)
        futures = await mount.send(cmd)
        if self.recorder is not None:
            self.recorder.track(futures)
        try:
            record.announced = await futures.ack
            record.ack = self.now()
            await futures.done
            record.done = self.now()
            record.outcome = "done"
        except CommandError as e:
            record.outcome = f"{type(e).__name__}: {e}"
            raise
        except asyncio.CancelledError:
            futures.ack.cancel()  # abandoned: a later failure is nobody's to report
            futures.done.cancel()
            raise
        finally:
            if not quiet:
                self.say(f"{record.name:<32} {record.outcome}")
        return record

    async def follow(
        self,
        task: asyncio.Task[object],
        telemetry: TelemetryClient,
        targets: dict[TelemetryTopicId, float],
    ) -> None:
        """Show a progress line from telemetry until ``task`` ends."""
        starts: dict[TelemetryTopicId, float] = {}
        last_line = 0.0
        while not task.done():
            parts = []
            for topic, target in targets.items():
                sample = telemetry.get(topic)
                if sample is None:
                    continue
                actual = float(sample["angleActual"])
                begin = starts.setdefault(topic, actual)
                span = abs(target - begin) or 1.0
                fraction = min(1.0, max(0.0, 1 - abs(target - actual) / span))
                bar = "#" * round(fraction * 20)
                parts.append(f"{topic.name.lower():<9} {actual:8.3f}° → {target:7.3f}° [{bar:<20}]")
            line = "   ".join(parts)
            if self.tty:
                print(f"\r{self.now():7.2f} s  {line}", end="", file=self.out, flush=True)
            elif line and self.now() - last_line >= 1.0:
                self.say(line)
                last_line = self.now()
            await asyncio.wait({task}, timeout=0.1)
        if self.tty:
            print(file=self.out)

    def summary(self) -> None:
        out = self.out
        print("\nCommands", file=out)
        print(
            f"  {'command':<32} {'ACK [ms]':>9} {'announced [s]':>14} {'DONE [s]':>9}  result",
            file=out,
        )
        for r in self.records:
            ack = f"{(r.ack - r.sent) * 1e3:9.2f}" if r.ack is not None else f"{'-':>9}"
            ann = f"{r.announced:14.3f}" if r.announced is not None else f"{'-':>14}"
            done = f"{r.done - r.sent:9.3f}" if r.done is not None else f"{'-':>9}"
            print(f"  {r.name:<32} {ack} {ann} {done}  {r.outcome}", file=out)
        acks = [(r.ack - r.sent) * 1e3 for r in self.records if r.ack is not None]
        print(
            f"\n  {len(self.records)} commands (plus {len(self.track_acks)} tracking targets); "
            f"ACK latency median {statistics.median(acks):.2f} ms, max {max(acks):.2f} ms",
            file=out,
        )
        if self.track_acks:
            print(
                f"  tracking targets: ACK latency median "
                f"{statistics.median(self.track_acks):.2f} ms",
                file=out,
            )
        print("\nIn-position events (arrivals)", file=out)
        for t, axis, flag in self.in_position:
            if flag:  # the "left position" events are implied by the commands
                print(f"  {t:7.2f} s  {axis:<9} in position", file=out)


async def _track(demo: Demo, mount: MountClient, telemetry: TelemetryClient) -> None:
    """Send a moving target to both axes at 10 Hz for the planned time."""
    plan = demo.plan
    rate = plan.track_rate
    t0 = tai_now()
    end = time.monotonic() + plan.track_seconds
    errors = []
    while time.monotonic() < end:
        tai = tai_now()
        cmd = commands.BothAxesTrack(
            azimuth=plan.azimuth + rate * (tai - t0),
            elevation=plan.elevation + rate * (tai - t0),
            azimuth_velocity=rate,
            elevation_velocity=rate,
            tai=tai,
        )
        sent = time.monotonic()
        await mount.run(cmd)  # ack-only: returns on ACK
        demo.track_acks.append((time.monotonic() - sent) * 1e3)
        sample = telemetry.get(TelemetryTopicId.ELEVATION)
        if sample is not None:
            errors.append(abs(float(sample["angleActual"]) - float(sample["angleSet"])))
        await asyncio.sleep(0.1)
    if errors:
        demo.say(
            f"tracked for {plan.track_seconds:.1f} s at {rate} deg/s: "
            f"{len(demo.track_acks)} targets, elevation error at the end "
            f"{errors[-1] * 3600:.2f} arcsec"
        )


async def run_demo(plan: Plan, out: TextIO = sys.stdout, recorder: Recorder | None = None) -> int:
    """Run the demonstration; return the exit status. ``recorder``: record it."""
    demo = Demo(plan, out)
    demo.recorder = recorder
    async with (
        RegistryServer("127.0.0.1", 0, pool=None) as registry,
        PortRegistry("127.0.0.1", registry.tcp_port) as controller_registry,
        PortRegistry("127.0.0.1", registry.tcp_port) as client_registry,
    ):
        demo.say(f"port registry on port {registry.port}")
        async with MockController(
            [Source.CSC],
            registry=controller_registry,
            timings=plan.timings,
            telemetry_rate_hz=plan.telemetry_hz,
        ) as controller:
            for entry in await client_registry.list_ports():
                demo.say(f"  advertised: {entry.service:<20} port {entry.port}")
            mount = MountClient(
                None,
                0,
                registry=client_registry,
                role=Source.CSC,
                unsolicited_callback=demo.on_unsolicited,
            )
            telemetry_port = await client_registry.wait_for("mount.telemetry", timeout=10)
            telemetry = TelemetryClient(
                "127.0.0.1", telemetry_port, sample_callback=recorder.sample if recorder else None
            )
            try:
                await asyncio.wait_for(mount.start(), 10)
                await telemetry.start()
                found = mount.communicator.client_port
                if found != controller.command_port(Source.CSC):
                    raise CliError(f"the client found port {found}, not the controller's")
                demo.say(
                    f"MountClient (CSC) found the controller by name: commands to port "
                    f"{found}, replies on port {mount.reply_port} (advertised)"
                )
                await _script(demo, mount, telemetry)
            except (CommandError, ExceptionGroup) as e:
                error = first_error(e)
                if not isinstance(error, CommandError):
                    raise
                raise CliError(f"demo failed: {error}") from None
            finally:
                await telemetry.close()
                await mount.close()
    demo.summary()
    print(f"\ndemo finished in {demo.now():.1f} s; everything closed cleanly", file=out)
    return 0


async def _both(*coros: Coroutine[Any, Any, object]) -> None:
    """Run commands concurrently; if one fails or we are cancelled, cancel and await the rest.

    (Unlike `asyncio.gather`, no command is left running to fail unobserved
    when the connection closes: no "Task exception was never retrieved".)
    """
    async with asyncio.TaskGroup() as group:
        for coro in coros:
            group.create_task(coro)


async def _script(demo: Demo, mount: MountClient, telemetry: TelemetryClient) -> None:
    """Take command, power up, slew, track, stop."""
    plan = demo.plan
    await demo.run(mount, commands.AskForCommand(commander=Source.CSC))
    await demo.run(mount, commands.MainPowerSupplyPower(on=True))
    await _both(
        demo.run(mount, commands.AzimuthAxisPower(on=True)),
        demo.run(mount, commands.ElevationAxisPower(on=True)),
    )
    await _both(
        demo.run(mount, commands.AzimuthAxisDriveEnable(on=True)),
        demo.run(mount, commands.ElevationAxisDriveEnable(on=True)),
    )
    demo.say(f"slewing to azimuth {plan.azimuth}°, elevation {plan.elevation}°")
    async with asyncio.TaskGroup() as group:
        slew = group.create_task(
            demo.run(mount, commands.BothAxesMove(azimuth=plan.azimuth, elevation=plan.elevation))
        )
        await demo.follow(
            slew,
            telemetry,
            {TelemetryTopicId.AZIMUTH: plan.azimuth, TelemetryTopicId.ELEVATION: plan.elevation},
        )
    await _both(
        demo.run(mount, commands.AzimuthAxisEnableTracking(on=True)),
        demo.run(mount, commands.ElevationAxisEnableTracking(on=True)),
    )
    await _track(demo, mount, telemetry)
    await demo.run(mount, commands.BothAxesStop())
    await _both(
        demo.run(mount, commands.AzimuthAxisEnableTracking(on=False)),
        demo.run(mount, commands.ElevationAxisEnableTracking(on=False)),
    )


def run(args: argparse.Namespace) -> int:
    plan = FAST if args.fast else NORMAL
    if args.plot is None:
        return asyncio.run(run_demo(plan))
    from .plot import plot_demo

    return plot_demo(lambda recorder: asyncio.run(run_demo(plan, recorder=recorder)), args.plot)
