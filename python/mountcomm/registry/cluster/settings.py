"""How a registry daemon reaches its etcd cluster."""

from __future__ import annotations

__all__ = ["MAX_LEASE_TTL", "ClusterSettings"]

from dataclasses import dataclass

from .http import authority
from .records import DEFAULT_PREFIX, parse_cluster_url

MAX_LEASE_TTL = 5
"""Longest lease a daemon takes [s]: a dead host's entries vanish within this."""


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Where etcd is and how to talk to it.

    Parameters
    ----------
    endpoints : `tuple` of (`str`, `int`)
        etcd client endpoints; tried in turn when one fails.
    user, password : `str` or `None`
        etcd credentials (both or neither).
    ca_file, cert_file, key_file : `str` or `None`
        TLS: the CA that signs etcd's certificate, and this daemon's client
        certificate and key (both or neither). Any of them given: TLS is used.
    ttl : `int`
        TTL of the daemon's lease, 1 … `MAX_LEASE_TTL` [s].
    prefix : `str`
        Key prefix of the published entries.
    op_timeout : `float`
        Longest wait for one etcd request [s].

    Raises
    ------
    ValueError
        If a value is out of range or only one of a pair is given.
    """

    endpoints: tuple[tuple[str, int], ...]
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ttl: int = MAX_LEASE_TTL
    prefix: str = DEFAULT_PREFIX
    op_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("a cluster needs at least one etcd endpoint")
        if isinstance(self.ttl, bool) or not 1 <= self.ttl <= MAX_LEASE_TTL:
            raise ValueError(f"lease TTL must be 1…{MAX_LEASE_TTL} s, got {self.ttl!r}")
        if (self.user is None) != (self.password is None):
            raise ValueError("etcd user and password go together: give both or neither")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLS cert_file and key_file go together: give both or neither")
        if not self.prefix.startswith("/") or not self.prefix.endswith("/"):
            raise ValueError(f"key prefix must start and end with '/', got {self.prefix!r}")
        if self.op_timeout <= 0:
            raise ValueError(f"op_timeout must be positive, got {self.op_timeout}")

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> ClusterSettings:
        """Settings for ``etcd://HOST:PORT[,HOST:PORT...]`` (see `parse_cluster_url`)."""
        return cls(parse_cluster_url(url), **kwargs)  # type: ignore[arg-type]

    @property
    def tls(self) -> bool:
        """True if TLS is used."""
        return any(f is not None for f in (self.ca_file, self.cert_file, self.key_file))

    @property
    def url(self) -> str:
        """The endpoints as an ``etcd://`` URL."""
        return "etcd://" + ",".join(authority(host, port) for host, port in self.endpoints)
