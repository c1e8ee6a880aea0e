"""The errors of the cluster link: etcd unreachable, refusing, or compacted.

Their place in mountcomm's exception tree is drawn in `mountcomm.exceptions`.
"""

from __future__ import annotations

__all__ = ["EtcdRequestError", "EtcdUnavailable", "RevisionCompacted"]

from ...exceptions import ConnectionClosedError, RegistryError


class EtcdUnavailable(ConnectionClosedError):
    """etcd could not be reached, or the connection to it ended or failed.

    A `ConnectionClosedError` (so a `ConnectionError`): the cause, when
    there is one, is chained as ``__cause__``.
    """


class EtcdRequestError(RegistryError):
    """etcd answered a request with an error (it refused the request).

    Parameters
    ----------
    message : `str`
        etcd's message.
    grpc_code : `int`
        etcd's (gRPC's) error code, e.g. 5 for "not found"; 0 if it sent none.

    Attributes
    ----------
    grpc_code : `int`
        As given.
    """

    code = "etcd_refused"

    def __init__(self, message: str, grpc_code: int) -> None:
        super().__init__(message)
        self.grpc_code = grpc_code

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.grpc_code), self.__dict__)


class RevisionCompacted(EtcdUnavailable):
    """The revision a watch should start from was compacted away."""
