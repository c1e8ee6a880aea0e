"""The simulator: a mock mount controller, scripted consoles and telemetry.

Layers, bottom up: `motion` (pure kinematics) and `devices` (pure state
machines; time is an argument), `authority` (who may command, pure), then the
asyncio glue: `telemetry` (stream server and client), `controller`
(`MockController`) and `console` (`SimulatedConsole`).
"""

from .authority import CommandAuthority
from .console import Pause, ScriptResult, SimulatedConsole
from .controller import TAI_MINUS_UTC, MockController, tai_now
from .devices import Mount, Severity, Timings
from .motion import AxisLimits
from .telemetry import TelemetryClient, TelemetryServer

__all__ = [
    "TAI_MINUS_UTC",
    "AxisLimits",
    "CommandAuthority",
    "MockController",
    "Mount",
    "Pause",
    "ScriptResult",
    "Severity",
    "SimulatedConsole",
    "TelemetryClient",
    "TelemetryServer",
    "Timings",
    "tai_now",
]
