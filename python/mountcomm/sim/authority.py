"""Command authority: which console may command the mount (pure).

Rules (PROTOCOL.md, "Command life cycle"):

* Only the console role that holds command may send commands; anyone may send
  ASK_FOR_COMMAND.
* ASK_FOR_COMMAND(commander) from role R is granted when ``commander`` is R
  itself (taking command) or R already holds command (handing it over, or
  releasing it with ``commander=NONE``), and ``commander`` is a role this
  controller serves (or NONE).
* Nobody can take command from the HHD (the hand-held device on the mount):
  while the HHD holds command, only the HHD may give it away.

The role is the port pair a command arrived on, never its ``source`` field,
which a console could forge; this class is given the role by the controller.

A console that vanishes (its command connection ends: closed, or declared dead
by TCP keepalive) while holding command keeps it for a grace period, so that a
console that reconnects soon finds command where it left it. If the console
is not back when the grace ends, command is released (holder NONE) and anyone
may take it. Time is an argument (any monotonic clock, in seconds).
"""

from __future__ import annotations

__all__ = ["CONSOLE_ROLES", "DEFAULT_AUTHORITY_GRACE", "CommandAuthority"]

import math
from collections.abc import Iterable

from ..protocol.enums import Source
from .devices.base import RejectCode, Rejected

CONSOLE_ROLES = (Source.CSC, Source.EUI, Source.HHD)
"""The roles that may connect to the controller as consoles."""

DEFAULT_AUTHORITY_GRACE = 30.0
"""How long a vanished console keeps command [s]."""


class CommandAuthority:
    """Who holds command (pure state machine).

    Parameters
    ----------
    roles : iterable of `Source`
        The console roles served.
    holder : `Source`
        Who holds command at first (default: nobody).
    grace : `float`
        How long the holder keeps command after its console vanished [s];
        ``math.inf``: for ever.

    Attributes
    ----------
    holder : `Source`
        The role holding command, or `Source.NONE`.
    roles : `frozenset` [`Source`]
    grace : `float`
    release_at : `float` or `None`
        When command will be released because its holder's console is gone,
        or `None`.

    Raises
    ------
    ValueError
        A role that is not a console role, a holder that is not served, or a
        negative or NaN grace.
    """

    def __init__(
        self,
        roles: Iterable[Source],
        holder: Source = Source.NONE,
        grace: float = DEFAULT_AUTHORITY_GRACE,
    ) -> None:
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0 s (math.inf: for ever), got {grace!r}")
        self.grace = float(grace)
        self.release_at: float | None = None
        self.roles = frozenset(Source(r) for r in roles)
        bad = self.roles - set(CONSOLE_ROLES)
        if bad:
            raise ValueError(f"console roles are {[r.name for r in CONSOLE_ROLES]}, not {bad}")
        if holder is not Source.NONE and holder not in self.roles:
            raise ValueError(f"holder {holder.name} is not one of the roles served")
        self.holder = holder

    def check(self, role: Source) -> Rejected | None:
        """May ``role`` send a (non ASK_FOR_COMMAND) command? `None` if so."""
        if role is self.holder:
            return None
        if self.holder is Source.NONE:
            return Rejected(
                RejectCode.NOT_COMMANDER,
                f"{role.name} does not have command (nobody has); send ASK_FOR_COMMAND",
            )
        return Rejected(
            RejectCode.NOT_COMMANDER,
            f"{role.name} does not have command; {self.holder.name} has it",
        )

    def ask(self, role: Source, commander: Source) -> Rejected | None:
        """Handle ASK_FOR_COMMAND(commander) from ``role``; `None` if granted.

        On success `holder` becomes ``commander``.
        """
        if commander is not Source.NONE and commander not in self.roles:
            return Rejected(
                RejectCode.BAD_ARGUMENT,
                f"cannot give command to {commander.name}: not a console of this controller",
            )
        if role is not self.holder:
            if self.holder is Source.HHD:
                return Rejected(RejectCode.NOT_COMMANDER, "HHD has command and cannot be preempted")
            if commander is not role:
                return Rejected(
                    RejectCode.NOT_COMMANDER,
                    f"{role.name} may only ask for command for itself (asked for {commander.name})",
                )
        self.holder = commander
        self.release_at = None
        return None

    def console_lost(self, role: Source, now: float) -> None:
        """``role``'s console vanished at ``now`` [s]: start the grace if it holds command."""
        if role is self.holder and self.release_at is None and not math.isinf(self.grace):
            self.release_at = now + self.grace

    def console_back(self, role: Source) -> None:
        """``role``'s console is connected again: it keeps command if it held it."""
        if role is self.holder:
            self.release_at = None

    def expire(self, now: float) -> bool:
        """Release command if the grace has ended at ``now`` [s]; True if released."""
        if self.release_at is None or now < self.release_at:
            return False
        self.holder = Source.NONE
        self.release_at = None
        return True
