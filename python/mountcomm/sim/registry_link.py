"""How a `MockController` uses a port registry: its service names and advertisements.

With ``registry=`` the controller advertises, for each console role it serves,
its command port as ``<prefix>.<role>.command`` and its telemetry port as
``<prefix>.telemetry``, and finds each console's reply port by the name
``<prefix>.<role>.reply`` (the prefix is ``mount`` unless given). A console that
comes back on another port is found again by name.
"""

from __future__ import annotations

__all__ = ["ControllerServices"]

import dataclasses
from collections.abc import Iterable
from typing import Any

from ..net.discovery import (
    DEFAULT_SERVICE_PREFIX,
    Advertisement,
    ServiceRegistry,
    mount_service_name,
)
from ..protocol.enums import Source


@dataclasses.dataclass
class ControllerServices:
    """The service names of one controller, and its telemetry advertisement.

    Parameters
    ----------
    registry : `ServiceRegistry`
        A connected registry client (e.g. `mountcomm.PortRegistry`).
    prefix : `str`
        First part of every name.
    fixed_reply_roles : iterable of `Source`
        Roles whose reply port was given as a number: not looked up by name.
    """

    registry: ServiceRegistry
    prefix: str = DEFAULT_SERVICE_PREFIX
    fixed_reply_roles: Iterable[Source] = ()
    telemetry: Advertisement | None = None

    def command(self, role: Source) -> str:
        """Name of ``role``'s command port."""
        return mount_service_name(role, "command", self.prefix)

    def reply(self, role: Source) -> str:
        """Name of ``role``'s console reply port."""
        return mount_service_name(role, "reply", self.prefix)

    def communicator_options(self, role: Source) -> dict[str, Any]:
        """Keyword options of the `Communicator` of ``role``'s port pair."""
        return {
            "registry": self.registry,
            "server_service": self.command(role),
            "client_service": None if role in self.fixed_reply_roles else self.reply(role),
        }

    async def advertise_telemetry(self, port: int, log: Any) -> None:
        """Advertise the telemetry port (see `withdraw_telemetry`)."""
        name = mount_service_name(None, "telemetry", self.prefix)
        self.telemetry = Advertisement(self.registry, name, log)
        await self.telemetry.register(port)

    async def withdraw_telemetry(self) -> None:
        """Release the telemetry port's advertisement. Idempotent; never raises."""
        if self.telemetry is not None:
            await self.telemetry.withdraw()
