"""The few etcd operations a registry daemon needs, over ``aetcd``, with typed errors.

`EtcdSession` is one client connection to one etcd endpoint. Every failure
of etcd (unreachable, timed out, refused) is raised as `EtcdUnavailable`; a
watch whose start revision was compacted raises `RevisionCompacted`. aetcd
is imported only here, so that the registry works without the ``cluster``
extra until a cluster is asked for.
"""

from __future__ import annotations

__all__ = ["EtcdSession", "EtcdUnavailable", "RevisionCompacted", "import_aetcd"]

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from .records import prefix_range_end
from .settings import ClusterSettings

WatchEvent = tuple[Literal["put", "delete"], bytes, bytes, int]
"""(kind, key, value, revision) of one etcd watch event."""


class EtcdUnavailable(ConnectionError):
    """etcd could not be reached, or failed a request."""


class RevisionCompacted(EtcdUnavailable):
    """The revision a watch should start from was compacted away."""


def import_aetcd() -> Any:
    """Import ``aetcd``.

    Raises
    ------
    RuntimeError
        If it is not installed (it is the ``cluster`` extra of mountcomm).
    """
    try:
        import aetcd
    except ImportError as e:
        raise RuntimeError(
            "a registry cluster needs the aetcd package: pip install 'mountcomm[cluster]'"
        ) from e
    return aetcd


def _client(settings: ClusterSettings, host: str, port: int) -> Any:
    aetcd = import_aetcd()
    kwargs = {
        "host": host,
        "port": port,
        "username": settings.user,
        "password": settings.password,
        "timeout": settings.op_timeout,
    }
    if not settings.tls:
        return aetcd.Client(**kwargs)
    return _tls_client_class(aetcd)(settings, **kwargs)


def _tls_client_class(aetcd: Any) -> Any:
    """An aetcd client on a TLS channel (aetcd itself only makes plain ones)."""
    import grpc

    class TlsClient(aetcd.Client):  # type: ignore[misc]
        def __init__(self, settings: ClusterSettings, **kwargs: Any) -> None:
            super().__init__(**kwargs)

            def read(path: str | None) -> bytes | None:
                return None if path is None else Path(path).read_bytes()

            self._credentials = grpc.ssl_channel_credentials(
                read(settings.ca_file), read(settings.key_file), read(settings.cert_file)
            )

        async def connect(self) -> None:
            secure = grpc.aio.secure_channel
            rpc = aetcd.client.rpc
            original = rpc.insecure_channel
            # aetcd builds its channel with rpc.insecure_channel: swap in a secure one.
            rpc.insecure_channel = lambda target, options: secure(
                target, self._credentials, options=options
            )
            try:
                await super().connect()
            finally:
                rpc.insecure_channel = original

    return TlsClient


def _translate(error: BaseException) -> EtcdUnavailable:
    aetcd = import_aetcd()
    if isinstance(error, aetcd.exceptions.RevisionCompactedError):
        return RevisionCompacted(str(error))
    return EtcdUnavailable(f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def _errors() -> Any:
    aetcd = import_aetcd()
    import grpc

    try:
        yield
    except (aetcd.exceptions.ClientError, grpc.aio.AioRpcError) as e:
        raise _translate(e) from e


class EtcdSession:
    """One aetcd client to one endpoint.

    Parameters
    ----------
    settings : `ClusterSettings`
        Credentials, TLS files, request timeout.
    host, port
        The endpoint.

    Notes
    -----
    Every method raises `EtcdUnavailable` when etcd fails; `close` never raises.
    """

    def __init__(self, settings: ClusterSettings, host: str, port: int) -> None:
        self.settings = settings
        self.target = f"{host}:{port}"
        self._client = _client(settings, host, port)
        self._timeout = settings.op_timeout

    async def _call(self, coro: Any) -> Any:
        with _errors():
            return await asyncio.wait_for(coro, self._timeout)

    async def grant(self, ttl: int) -> int:
        """Grant a lease of ``ttl`` seconds; return its id."""
        lease = await self._call(self._client.lease(ttl))
        return int(lease.id)

    async def refresh(self, lease: int) -> int:
        """Keep ``lease`` alive once; return its remaining TTL (≤ 0: it expired) [s]."""
        reply = await self._call(self._client.refresh_lease(lease))
        return 0 if reply is None else int(reply.TTL)

    async def revoke(self, lease: int) -> None:
        """Revoke ``lease`` (its keys are deleted); an unknown lease is no error."""
        aetcd = import_aetcd()
        try:
            await self._call(self._client.revoke_lease(lease))
        except EtcdUnavailable as e:
            cause = e.__cause__
            if isinstance(cause, aetcd.exceptions.ClientError) and "not found" in str(cause):
                return
            raise

    async def put(self, key: bytes, value: bytes, lease: int) -> None:
        """Put ``key`` attached to ``lease``."""
        await self._call(self._client.put(key, value, lease=lease))

    async def delete(self, key: bytes) -> None:
        """Delete ``key`` (no error if absent)."""
        await self._call(self._client.delete(key))

    async def snapshot_at(self, prefix: str) -> tuple[list[tuple[bytes, bytes]], int]:
        """Every (key, value) under ``prefix`` and the revision of that snapshot."""
        reply = await self._call(self._client.get_prefix(prefix.encode()))
        items = [(bytes(kv.key), bytes(kv.value)) for kv in reply.kvs]
        return items, int(reply.header.revision)

    async def snapshot(self, prefix: str) -> list[tuple[bytes, bytes]]:
        """Every (key, value) under ``prefix``."""
        return (await self.snapshot_at(prefix))[0]

    async def revision(self, prefix: str) -> int:
        """etcd's current revision (read with a keys-only range of ``prefix``)."""
        reply = await self._call(self._client.get_prefix(prefix.encode(), keys_only=True))
        return int(reply.header.revision)

    async def watch(self, prefix: str, start_revision: int) -> Any:
        """Start watching ``prefix`` from ``start_revision`` (inclusive)."""
        key = prefix.encode()
        return await self._call(
            self._client.watch(key, range_end=prefix_range_end(key), start_revision=start_revision)
        )

    async def events(self, watch: Any) -> AsyncIterator[WatchEvent]:
        """Yield the events of ``watch`` until it ends (then return) or fails (raise)."""
        with _errors():
            async for event in watch:
                kind: Literal["put", "delete"] = "put" if event.kind == "PUT" else "delete"
                kv = event.kv
                yield kind, bytes(kv.key), bytes(kv.value), int(kv.mod_revision)

    async def close(self) -> None:
        """Close the client (idempotent; never raises)."""
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):  # a broken client must not fail the caller
            await asyncio.wait_for(client.close(), self._timeout)
