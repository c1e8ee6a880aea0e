"""What one registry daemon publishes to etcd, and how it is spelled. Pure: no I/O.

Each entry a daemon holds becomes one etcd key under a versioned prefix::

    /mountcomm/v1/ports/<host>/<port>   ->   {"service": ..., "host": ..., "port": ...,
                                             "user": ..., "uid": ..., "time": ...,
                                             "daemon": ...}

The key is the host and port (a port is a host resource: two hosts may each
hold ``svc``, and both keys exist). ``daemon`` names the publishing daemon
(a random id per process), so that a daemon tells its own entries from the
others' in the mirrored view.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_PREFIX",
    "ClusterRecord",
    "decode_record",
    "parse_cluster_url",
    "prefix_range_end",
    "record_key",
]

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from ..entries import PortEntry, validate_name

DEFAULT_PREFIX = "/mountcomm/v1/"
"""Where the daemons publish; the version changes when the value's format does."""

_MAX_HOST_LENGTH = 255
_MAX_VALUE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """One entry as published in etcd.

    Attributes
    ----------
    service : `str`
        The service name (suffix included).
    host : `str`
        Where the port is reachable (the daemon's advertise host).
    port : `int`
        The port number.
    user : `str`
        The owner's user name, as the publishing daemon verified it.
    uid : `int` or `None`
        The owner's uid, where the publishing daemon could verify it.
    time : `float`
        When the entry was made on its daemon [UTC unix seconds].
    daemon : `str`
        Id of the publishing daemon (random per process).
    """

    service: str
    host: str
    port: int
    user: str
    uid: int | None
    time: float
    daemon: str

    @property
    def entry(self) -> PortEntry:
        """The record as a `PortEntry` (with its host and the uid its daemon verified)."""
        return PortEntry(self.port, self.service, self.user, self.host, self.uid)

    def encode(self) -> bytes:
        """The value stored in etcd (compact JSON, the fields in their order)."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not 0 < len(host) <= _MAX_HOST_LENGTH:
        raise ValueError(f"host must be a string of 1…{_MAX_HOST_LENGTH} characters: {host!r}")
    if "/" in host or any(c.isspace() for c in host):
        raise ValueError(f"host must not contain '/' or white space: {host!r}")
    return host


def _check_port(port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1…65535, got {port!r}")
    return port


def record_key(prefix: str, host: str, port: int) -> bytes:
    """The etcd key of the entry of ``host``:``port`` under ``prefix``.

    Raises
    ------
    ValueError
        If ``host`` contains ``/`` or white space, or ``port`` is out of range.
    """
    return f"{prefix}ports/{_check_host(host)}/{_check_port(port)}".encode()


def prefix_range_end(prefix: bytes) -> bytes:
    """The end of etcd's key range of every key starting with ``prefix``."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def _field(obj: dict[str, Any], name: str, *types: type) -> Any:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, types):
        raise ValueError(f"field {name!r} has a bad value: {value!r}")
    return value


def decode_record(key: bytes, value: bytes) -> ClusterRecord:
    """Read a published value; check it against its key.

    Raises
    ------
    ValueError
        If the value is not a valid record, or names another host or port
        than its key (a record is trusted no further than its key).
    """
    if len(value) > _MAX_VALUE_BYTES:
        raise ValueError(f"value of {len(value)} bytes; at most {_MAX_VALUE_BYTES}")
    try:
        obj = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"value is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError("value is not a JSON object")
    host, port = _check_host(obj.get("host")), _check_port(obj.get("port"))
    when = float(_field(obj, "time", int, float))
    if not math.isfinite(when):
        raise ValueError(f"field 'time' is not finite: {when!r}")
    if not key.endswith(f"/ports/{host}/{port}".encode()):
        raise ValueError(f"value names {host}:{port}, which is not its key {key!r}")
    return ClusterRecord(
        service=validate_name(obj.get("service")),
        host=host,
        port=port,
        user=validate_name(obj.get("user"), "user"),
        uid=None if obj.get("uid") is None else _field(obj, "uid", int),
        time=when,
        daemon=_field(obj, "daemon", str),
    )


def parse_cluster_url(text: str) -> tuple[tuple[str, int], ...]:
    """Parse ``etcd://HOST:PORT[,HOST:PORT...]`` into ``((host, port), ...)``.

    A host may be an IPv6 address in brackets (``[::1]:2379``). The port
    defaults to 2379.

    Raises
    ------
    ValueError
        If the text is not of that form; the message quotes the bad part.
    """
    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme.lower() != "etcd":
        raise ValueError(f"bad cluster URL {text!r}: expected etcd://HOST:PORT[,HOST:PORT...]")
    endpoints = []
    for raw in rest.rstrip("/").split(","):
        part = raw.strip()
        if part.startswith("["):
            host, _, tail = part[1:].partition("]")
            port_text = tail[1:] if tail.startswith(":") else ""
            if tail and not tail.startswith(":"):
                host = ""
        else:
            host, _, port_text = part.partition(":")
        try:
            port = int(port_text) if port_text else 2379
        except ValueError:
            port = 0
        if not host or not 1 <= port <= 65535:
            raise ValueError(f"bad etcd endpoint {part!r} in {text!r}: expected HOST:PORT")
        endpoints.append((host, port))
    return tuple(endpoints)
