"""Exceptions raised by mountcomm.

The tree is small and split by *who is at fault*::

    MountcommError
    ├── ProtocolError (also ValueError)   the peer sent bytes we cannot parse
    │   ├── FrameTooLongError             ... a frame longer than the decoder's limit
    │   └── HttpProtocolError ¹           ... etcd's gateway sent HTTP we cannot follow
    ├── CommandError                      a command did not complete
    │   ├── CommandRejected               the controller answered NOACK
    │   │   └── CommandSuperseded         ... because a newer command replaced it
    │   └── CommandTimeout (TimeoutError) no ACK or no DONE in time
    ├── ConnectionClosedError (also ConnectionResetError)
    │   │                                 the connection is gone (peer EOF, reset, close())
    │   ├── RegistryStartError ²          ... an auto-started registry daemon did not answer
    │   └── EtcdUnavailable ³             ... etcd cannot be reached, or failed
    │       ├── GatewayClosed ¹           ... the connection to etcd's gateway ended
    │       └── RevisionCompacted ³       ... a watch's start revision was compacted
    ├── SelfConnectionError (ConnectionError)
    │                                     a connect attempt reached its own socket
    └── RegistryError                     the port registry refused a request
        ├── RegistryRequestError (also ValueError)
        │                                 ... because the request was malformed
        ├── RegistryPermissionError       ... because the client may not do that
        ├── PoolExhaustedError            ... because no port of the pool is free
        ├── PortInUseError                ... because the port is already registered
        ├── UnknownPortError (also LookupError)
        │                                 ... because the registry holds no such port
        └── EtcdRequestError ³            ... because etcd refused the daemon's request

Defined where they are raised, because this module sits below them (it
imports nothing of mountcomm): ¹ `mountcomm.registry.cluster.http` and
``.gateway``, ² `mountcomm.registry.autostart`, ³
`mountcomm.registry.cluster.errors` (`mountcomm.testing.etcd.EtcdUnavailableError`,
raised when no etcd binary can run, is another name of `EtcdUnavailable`).
Every exception class of a registry module is in this tree
(``tests/registry/test_exception_tree.py`` checks it).

Misuse by the caller (a wrong argument, a call in the wrong state) raises the
builtin `TypeError`, `ValueError` or `RuntimeError`, never one of these.

Connection loss is one name for users, `ConnectionClosedError`. It derives from
`ConnectionResetError` (so from `ConnectionError` and `OSError`), which code
written for the original classes catches. When the peer closes the connection,
`mountcomm.net.Communicator.read` raises a subclass that is also an
`asyncio.IncompleteReadError`, as asyncio's ``readuntil`` does on EOF
(`mountcomm.net.errors.IncompleteFrameError`; it lives in `mountcomm.net`
because this module must not import asyncio). So
``except (ConnectionResetError, asyncio.IncompleteReadError)`` catches every
hang-up too.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandRejected",
    "CommandSuperseded",
    "CommandTimeout",
    "ConnectionClosedError",
    "FrameTooLongError",
    "MountcommError",
    "PoolExhaustedError",
    "PortInUseError",
    "ProtocolError",
    "RegistryError",
    "RegistryPermissionError",
    "RegistryRequestError",
    "SelfConnectionError",
    "UnknownPortError",
]


class MountcommError(Exception):
    """Base class of every exception defined by mountcomm."""


class ProtocolError(MountcommError, ValueError):
    """The peer sent data that does not follow the protocol.

    The stream stays in sync: the reader has already skipped the bad frame.

    Parameters
    ----------
    message : `str`
        What was expected and what arrived.
    frame : `bytes` or `list` [`str`] or `None`
        The offending raw frame (bytes, possibly truncated) or its fields.

    Attributes
    ----------
    frame : `bytes` or `list` [`str`] or `None`
        The offending frame, as given.
    """

    def __init__(self, message: str, frame: bytes | list[str] | None = None) -> None:
        super().__init__(message)
        self.frame = frame


class FrameTooLongError(ProtocolError):
    """A frame exceeded the decoder's ``max_frame_bytes`` before its terminator.

    The decoder discards bytes up to the next terminator and carries on;
    ``frame`` holds the first bytes of the discarded frame.
    """


class CommandError(MountcommError):
    """A command sent to the controller did not complete successfully."""


class CommandRejected(CommandError):
    """The controller answered NOACK.

    Parameters
    ----------
    explanation : `str`
        The explanation field of the NOACK reply.

    Attributes
    ----------
    explanation : `str`
        The explanation field of the NOACK reply.
    """

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


class CommandSuperseded(CommandRejected):
    """The command was replaced by a newer command before it finished."""


class CommandTimeout(CommandError, TimeoutError):
    """No ACK arrived within the ack timeout, or no DONE within the promised time.

    Parameters
    ----------
    message : `str`
        What was expected and within which time.
    delivered : ``"unknown"`` or ``"yes"``, keyword-only
        Whether the controller got the command: ``"unknown"`` when no ACK
        was seen (it may or may not have executed; `MountClient` has reset
        the command connection, so it will not execute later), ``"yes"``
        when the ACK was seen and the DONE is late.

    Attributes
    ----------
    delivered : `str`
        As given.
    """

    def __init__(self, message: str = "", *, delivered: str = "unknown") -> None:
        if delivered not in ("unknown", "yes"):
            raise ValueError(f"delivered must be 'unknown' or 'yes', got {delivered!r}")
        super().__init__(message)
        self.delivered = delivered

    def __reduce__(self) -> tuple[object, ...]:
        return (_make_command_timeout, (str(self), self.delivered), self.__dict__)


def _make_command_timeout(message: str, delivered: str) -> CommandTimeout:
    return CommandTimeout(message, delivered=delivered)


class ConnectionClosedError(MountcommError, ConnectionResetError):
    """The connection is closed or was lost.

    Raised by reads and writes after the peer hung up, after a reset, or after
    ``close()``. The first cause, when there is one, is chained as ``__cause__``.

    It is a `ConnectionResetError` (hence a `ConnectionError` and an `OSError`):
    code that catches ``ConnectionResetError`` around a read sees every hang-up.
    Give it a single message argument (two would be read as ``errno, strerror``).
    """


class SelfConnectionError(MountcommError, ConnectionError):
    """A connect attempt was connected to its own socket.

    This happens when a client retries a port of the kernel's ephemeral range
    on which nobody listens: the kernel may pick that very port as the local
    port, and TCP's simultaneous open connects the socket to itself. Connect
    loops close such a connection and retry, as after a refused attempt.
    """


class RegistryError(MountcommError):
    """The port registry refused a request or answered something unexpected.

    Attributes
    ----------
    code : `str`
        Machine-readable name of the error on the registry's native wire
        (the ``error`` field of a refusal); each subclass has its own.
    """

    code = "error"


class RegistryRequestError(RegistryError, ValueError):
    """The registry received a malformed request (bad syntax, field or name)."""

    code = "bad_request"


class RegistryPermissionError(RegistryError):
    """The client may not do this: it is not on the registry's host, claims a user
    its credentials contradict, or tries to release a port it does not hold."""

    code = "permission_denied"


class PoolExhaustedError(RegistryError):
    """No port of the registry's pool can be handed out right now."""

    code = "pool_exhausted"


class PortInUseError(RegistryError):
    """The port to register is already registered."""

    code = "port_in_use"


class UnknownPortError(RegistryError, LookupError):
    """The registry holds no entry for this port."""

    code = "unknown_port"
