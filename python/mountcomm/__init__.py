"""mountcomm: asyncio framework for a telescope mount's dual-socket text protocol.

Public names are imported lazily, so ``import mountcomm.protocol`` stays free of
asyncio and sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

# name -> module that defines it
_LAZY = {
    "ClientServerPair": "mountcomm.net.client_server_pair",
    "Communicator": "mountcomm.net.communicator",
    "OneClientServer": "mountcomm.net.server",
    "MockController": "mountcomm.sim.controller",
    "MountClient": "mountcomm.commanding.client",
    "MountProxy": "mountcomm.proxy.proxy",
    "commands": "mountcomm.protocol",
    "replies": "mountcomm.protocol",
    "enums": "mountcomm.protocol",
    "Source": "mountcomm.protocol.enums",
    "CommandCode": "mountcomm.protocol.enums",
    "ReplyCode": "mountcomm.protocol.enums",
    "SubsystemId": "mountcomm.protocol.enums",
    "ProtocolError": "mountcomm.exceptions",
    "FrameTooLongError": "mountcomm.exceptions",
    "ConnectionClosedError": "mountcomm.exceptions",
    "MountcommError": "mountcomm.exceptions",
    "PortRegistry": "mountcomm.registry.client",
    "PortManager": "mountcomm.registry.manager",
    "TelemetryClient": "mountcomm.telemetry.client",
    "TelemetryTopicId": "mountcomm.protocol.enums",
}

__all__ = [
    "ClientServerPair",
    "CommandCode",
    "Communicator",
    "ConnectionClosedError",
    "FrameTooLongError",
    "MockController",
    "MountClient",
    "MountProxy",
    "MountcommError",
    "OneClientServer",
    "PortManager",
    "PortRegistry",
    "ProtocolError",
    "ReplyCode",
    "Source",
    "SubsystemId",
    "TelemetryClient",
    "TelemetryTopicId",
    "__version__",
    "commands",
    "enums",
    "replies",
]

if TYPE_CHECKING:
    from .commanding.client import MountClient
    from .exceptions import (
        ConnectionClosedError,
        FrameTooLongError,
        MountcommError,
        ProtocolError,
    )
    from .net.client_server_pair import ClientServerPair
    from .net.communicator import Communicator
    from .net.server import OneClientServer
    from .protocol import commands, enums, replies
    from .protocol.enums import CommandCode, ReplyCode, Source, SubsystemId, TelemetryTopicId
    from .proxy.proxy import MountProxy
    from .registry.client import PortRegistry
    from .registry.manager import PortManager
    from .sim.controller import MockController
    from .telemetry.client import TelemetryClient


__getattr__, __dir__ = lazy_attributes("mountcomm", _LAZY, globals())
