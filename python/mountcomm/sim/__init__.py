"""The simulator: a mock mount controller, scripted consoles and telemetry.

Layers, bottom up: `motion` (pure kinematics) and `devices` (pure state
machines; time is an argument), `authority` (who may command), `faults`
(fault-injection settings), `core` (the answering core: commands in, replies
out), `clock`, `throttle` and `replay` (a recording's answers), all pure,
then the asyncio glue: `telemetry` (stream server and client),
`console_port` (one console's sockets), `fault_injection`, `replayer`
(answers from a recording), `controller` (`MockController`) and `console`
(`SimulatedConsole`).

Public names are imported lazily, so ``import mountcomm.sim.motion`` or
``mountcomm.sim.devices`` stays free of asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "AxisLimits": "mountcomm.sim.motion",
    "CommandAuthority": "mountcomm.sim.authority",
    "Executed": "mountcomm.sim.core",
    "MockController": "mountcomm.sim.controller",
    "Mount": "mountcomm.sim.devices",
    "Pause": "mountcomm.sim.console",
    "ReplayScript": "mountcomm.sim.replay",
    "ScriptResult": "mountcomm.sim.console",
    "Severity": "mountcomm.sim.devices",
    "SimClock": "mountcomm.sim.clock",
    "SimulatedConsole": "mountcomm.sim.console",
    "TAI_MINUS_UTC": "mountcomm.sim.controller",
    "TelemetryClient": "mountcomm.sim.telemetry",
    "TelemetryServer": "mountcomm.sim.telemetry",
    "Timings": "mountcomm.sim.devices",
    "tai_now": "mountcomm.sim.controller",
}

__all__ = [
    "TAI_MINUS_UTC",
    "AxisLimits",
    "CommandAuthority",
    "Executed",
    "MockController",
    "Mount",
    "Pause",
    "ReplayScript",
    "ScriptResult",
    "Severity",
    "SimClock",
    "SimulatedConsole",
    "TelemetryClient",
    "TelemetryServer",
    "Timings",
    "tai_now",
]

if TYPE_CHECKING:
    from .authority import CommandAuthority
    from .clock import SimClock
    from .console import Pause, ScriptResult, SimulatedConsole
    from .controller import TAI_MINUS_UTC, MockController, tai_now
    from .core import Executed
    from .devices import Mount, Severity, Timings
    from .motion import AxisLimits
    from .replay import ReplayScript
    from .telemetry import TelemetryClient, TelemetryServer


__getattr__, __dir__ = lazy_attributes("mountcomm.sim", _LAZY, globals())
