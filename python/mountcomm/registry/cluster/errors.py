"""The errors of the cluster link: etcd unreachable, refusing, or compacted."""

from __future__ import annotations

__all__ = ["EtcdRequestError", "EtcdUnavailable", "RevisionCompacted"]


class EtcdUnavailable(ConnectionError):
    """etcd could not be reached, or failed a request."""


class EtcdRequestError(EtcdUnavailable):
    """etcd answered a request with an error.

    Attributes
    ----------
    code : `int`
        etcd's (gRPC's) error code, e.g. 5 for "not found".
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class RevisionCompacted(EtcdUnavailable):
    """The revision a watch should start from was compacted away."""
