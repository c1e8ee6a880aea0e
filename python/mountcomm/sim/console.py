"""`SimulatedConsole`: a scripted EUI or HHD peer on its role's port pair.

Tests use it to play the other consoles around the code under test, e.g. an
engineer at the EUI grabbing command from the CSC, or the hand-held device
taking command and refusing to give it back.
"""

from __future__ import annotations

__all__ = ["Pause", "ScriptResult", "SimulatedConsole"]

import asyncio
import dataclasses
from collections.abc import Iterable
from typing import Any

from .._lifecycle import AsyncResource
from ..commanding.client import MountClient
from ..exceptions import CommandError
from ..protocol.commands import AskForCommand, Command
from ..protocol.enums import Source
from .controller import MockController


@dataclasses.dataclass(frozen=True)
class Pause:
    """A script step: wait ``seconds`` before the next step."""

    seconds: float


@dataclasses.dataclass(frozen=True)
class ScriptResult:
    """What one command of a script did.

    Attributes
    ----------
    command : `Command`
    error : `CommandError` or `None`
        `None` if the command completed (DONE, or ACK when ack-only).
    """

    command: Command
    error: CommandError | None

    @property
    def ok(self) -> bool:
        """Did the command complete?"""
        return self.error is None


class SimulatedConsole(AsyncResource):
    """A console (EUI or HHD by default) that runs scripted commands.

    Built on `MountClient`; connects to a `MockController` in-process (the
    reply port is handed to the controller directly, so port 0 works), or to
    any controller by host and command port.

    Parameters
    ----------
    controller : `MockController` or `None`
        The controller to join (started). `None`: give ``command_port``.
    role : `Source`
        The console's role: EUI (default), HHD or CSC.
    host : `str` or `None`
        Controller host when ``controller`` is `None`; `None`: localhost.
    command_port : `int` or `None`
        Controller command port when ``controller`` is `None`.
    reply_port : `int` or `None`
        Reply port when ``controller`` is `None` (default command port + 1).
    log : logger or `None`
    **client_options
        Other `MountClient` keyword options (``ack_timeout``, ...).

    Attributes
    ----------
    role : `Source`
    client : `MountClient` or `None`
        The underlying client, once started.
    """

    def __init__(
        self,
        controller: MockController | None = None,
        *,
        role: Source = Source.EUI,
        host: str | None = None,
        command_port: int | None = None,
        reply_port: int | None = None,
        log: Any = None,
        **client_options: Any,
    ) -> None:
        if controller is None and not command_port:
            raise ValueError("give a controller, or the controller's command_port")
        self.controller = controller
        self.role = Source(role)
        self.host = host
        self.command_port = command_port
        self.reply_port = reply_port
        self.log = log
        self.client_options = client_options
        self.client: MountClient | None = None

    async def start(self) -> None:
        """Connect to the controller (both connections). Idempotent.

        Raises
        ------
        TimeoutError, ConnectionError, OSError
            As `MountClient.start`.
        """
        if self.client is not None:
            await self.client.start()
            return
        if self.controller is not None:
            self.client = MountClient(
                "127.0.0.1" if self.controller.host is None else self.controller.host,
                self.controller.command_port(self.role),
                reply_port=0,
                reply_host="127.0.0.1",
                role=self.role,
                log=self.log,
                **self.client_options,
            )
            try:
                port = await self.client.wait_reply_port()
                self.controller.connect_console(self.role, port)
                await self.client.start()
            except BaseException:
                await self.client.close()
                raise
            return
        assert self.command_port is not None
        self.client = MountClient(
            self.host,
            self.command_port,
            reply_port=self.reply_port,
            role=self.role,
            log=self.log,
            **self.client_options,
        )
        await self.client.start()

    def _client(self) -> MountClient:
        if self.client is None:
            raise RuntimeError("SimulatedConsole is not started: use `async with` or start()")
        return self.client

    async def run(self, command: Command, timeout: float | None = None) -> None:
        """Run one command (see `MountClient.run`)."""
        await self._client().run(command, timeout)

    async def take_command(self) -> None:
        """ASK_FOR_COMMAND for this console's role.

        Raises
        ------
        CommandRejected
            If refused (e.g. the HHD holds command).
        """
        await self.run(AskForCommand(commander=self.role))

    async def give_command(self, to: Source = Source.CSC) -> None:
        """Hand command over to ``to`` (this console must hold it)."""
        await self.run(AskForCommand(commander=to))

    async def run_script(
        self, steps: Iterable[Command | Pause], stop_on_error: bool = False
    ) -> list[ScriptResult]:
        """Run commands one after the other, with optional pauses.

        Parameters
        ----------
        steps : iterable of `Command` or `Pause`
        stop_on_error : `bool`
            Stop at the first command that fails (default: carry on).

        Returns
        -------
        results : `list` [`ScriptResult`]
            One per command run, in order.

        Raises
        ------
        ConnectionError
            If the connection is lost (a lost connection ends the script).
        """
        results = []
        for step in steps:
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                continue
            try:
                await self.run(step)
            except CommandError as e:
                results.append(ScriptResult(step, e))
                if stop_on_error:
                    break
            else:
                results.append(ScriptResult(step, None))
        return results

    async def close(self) -> None:
        """Disconnect. Idempotent."""
        if self.client is not None:
            await self.client.close()
