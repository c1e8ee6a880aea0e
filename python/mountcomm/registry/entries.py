"""The registry's value types: entries, leases, events, queries. Pure and immutable.

A `PortEntry` is one port held under a service name by a user; a `Lease` is
what holds it (a connection or a process); a `PortEvent` says that an entry
appeared or went; a `Query` selects entries; a `Change` is what a `PortStore`
operation returns. `validate_name` checks service and user names.
"""

from __future__ import annotations

__all__ = [
    "MAX_NAME_LENGTH",
    "Change",
    "EventKind",
    "Lease",
    "PortEntry",
    "PortEvent",
    "Query",
    "validate_name",
]

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from ..exceptions import RegistryRequestError

MAX_NAME_LENGTH = 128
"""Longest service or user name accepted [characters]."""


class EventKind(enum.StrEnum):
    """Kind of a `PortEvent`; a `str`, so ``event.kind == "added"`` holds too."""

    ADDED = "added"
    """The entry appeared."""
    REMOVED = "removed"
    """The entry went."""


def validate_name(name: object, what: str = "service") -> str:
    """Return ``name`` if it is a valid service or user name.

    A name is a token of 1 … `MAX_NAME_LENGTH` printable characters with no
    white space (the NSCL wire separates fields with spaces), as the NSCL port
    manager accepts: ``Spec#Tcl`` is a name.

    Raises
    ------
    RegistryRequestError
        If it is not.
    """
    if not isinstance(name, str):
        raise RegistryRequestError(f"{what} name must be a string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise RegistryRequestError(
            f"{what} name is {len(name)} characters long; at most {MAX_NAME_LENGTH} allowed"
        )
    if not name or not name.isprintable() or len(name.split()) != 1 or name.strip() != name:
        raise RegistryRequestError(
            f"bad {what} name {name!r}: expected one word of printable characters, no spaces"
        )
    return name


@dataclass(frozen=True, slots=True, order=True)
class PortEntry:
    """One advertised port.

    Attributes
    ----------
    port : `int`
        The port number.
    service : `str`
        The service name, suffix included (``"mount_csc_1"``).
    user : `str`
        Name of the user who holds it (the verified one where the OS can tell).
    host : `str`
        Where the port is reachable; ``""``: the registry's own host (a
        registry that is not part of a cluster leaves it empty).
    uid : `int` or `None`
        The owner's verified uid; `None` where the daemon could not verify it
        (and on the client side: the wire does not carry it). For an entry of
        another cluster member, the uid that member verified. Not compared.
    """

    port: int
    service: str
    user: str
    host: str = ""
    uid: int | None = field(default=None, compare=False, repr=False, metadata={"wire": False})

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"port": ..., "service": ..., "user": ...}`` (and ``"host"`` if set)."""
        d: dict[str, Any] = {"port": self.port, "service": self.service, "user": self.user}
        if self.host:
            d["host"] = self.host
        return d


@dataclass(frozen=True, slots=True)
class PortEvent:
    """An entry was added to or removed from the registry.

    Attributes
    ----------
    kind : `EventKind`
        What happened (``EventKind.ADDED`` or ``EventKind.REMOVED``; a
        plain ``"added"`` or ``"removed"`` given to the constructor becomes
        the enum member).
    port, service, user, host, uid
        The entry concerned (see `PortEntry`).
    initial : `bool`
        True for the entries that already existed when a watch started (each
        reported once as added before any live event).
    """

    kind: EventKind
    port: int
    service: str
    user: str
    initial: bool = False
    host: str = ""
    uid: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.kind) is not EventKind:
            object.__setattr__(self, "kind", EventKind(self.kind))

    @classmethod
    def of(cls, kind: EventKind, entry: PortEntry, initial: bool = False) -> PortEvent:
        """Make the event of ``kind`` about ``entry``."""
        return cls(kind, entry.port, entry.service, entry.user, initial, entry.host, entry.uid)

    @property
    def entry(self) -> PortEntry:
        """The entry concerned."""
        return PortEntry(self.port, self.service, self.user, self.host, self.uid)


@dataclass(frozen=True, slots=True)
class Lease:
    """What keeps entries alive: a connection to the daemon, or a process.

    Attributes
    ----------
    kind : ``"connection"`` or ``"pid"``
        A native or NSCL connection (entries end when it closes), or a process
        of the portpicker dialect (entries end when it dies).
    ident : `int`
        The connection number or the pid.
    """

    kind: Literal["connection", "pid"]
    ident: int


@dataclass(frozen=True, slots=True)
class Query:
    """Criteria of ``find`` and ``watch``; all given criteria must hold.

    Attributes
    ----------
    service : `str` or `None`
        The service name equals this.
    beginswith : `str` or `None`
        The service name starts with this.
    user : `str` or `None`
        The user equals this.
    trusted : `frozenset` [`int`] or `None`
        The owner's verified uid is one of these (`None`: any owner, verified
        or not). The trust model of lookups made in order to connect.
    """

    service: str | None = None
    beginswith: str | None = None
    user: str | None = None
    trusted: frozenset[int] | None = None

    def matches(self, entry: PortEntry | PortEvent) -> bool:
        """Return True if ``entry`` meets every given criterion."""
        return (
            (self.service is None or entry.service == self.service)
            and (self.beginswith is None or entry.service.startswith(self.beginswith))
            and (self.user is None or entry.user == self.user)
            and (self.trusted is None or (entry.uid is not None and entry.uid in self.trusted))
        )


@dataclass(frozen=True, slots=True)
class Change:
    """Result of a store operation.

    Attributes
    ----------
    entry : `PortEntry` or `None`
        The entry added or released, if the operation concerned one entry.
    events : `tuple` [`PortEvent`, ...]
        The events the operation caused, in order.
    """

    entry: PortEntry | None = None
    events: tuple[PortEvent, ...] = field(default=())
