"""The few etcd operations a registry daemon needs, over ``aetcd``, with typed errors.

`EtcdSession` is one client connection to one etcd endpoint. Every failure
of etcd (unreachable, timed out, refused) is raised as `EtcdUnavailable`; a
watch whose start revision was compacted raises `RevisionCompacted`. aetcd
is imported only here, so that the registry works without the ``cluster``
extra until a cluster is asked for.
"""

from __future__ import annotations

__all__ = [
    "EtcdSession",
    "EtcdUnavailable",
    "RevisionCompacted",
    "import_aetcd",
    "run_on_etcd_loop",
]

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from .records import prefix_range_end
from .settings import ClusterSettings

T = TypeVar("T")

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
            # aetcd.Client.connect with a secure channel (aetcd only makes plain ones).
            if self._connected.is_set():
                return
            rpc = aetcd.rpc
            target = f"{self._host}:{self._port}"
            self.channel = grpc.aio.secure_channel(
                target, self._credentials, options=self._options.items()
            )
            if self._username is not None and self._password is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                request = rpc.AuthenticateRequest(name=self._username, password=self._password)
                reply = await self.auth_stub.Authenticate(request, timeout=self._timeout)
                self.metadata = (("token", reply.token),)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd.watcher.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()

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


class _GrpcThread:
    """One event loop, in a thread of its own, that runs every etcd call.

    grpc's asyncio stack binds to the event loops it is used from and does
    not cope with a loop that is closed while it is bound (a program or a
    test suite that runs several loops one after the other then hangs). So
    every aetcd object lives and is used on this one long-lived loop; callers
    on any loop await the results through thread-safe futures.
    """

    _instance: _GrpcThread | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="mountcomm-etcd", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @classmethod
    def get(cls) -> _GrpcThread:
        with cls._guard:
            if cls._instance is None:
                cls._instance = _GrpcThread()
            return cls._instance

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the etcd loop; cancelling the caller cancels it there."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


async def run_on_etcd_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``, which uses aetcd, on the loop every etcd client must use.

    Cancelling the caller cancels ``coro`` there.
    """
    return await _GrpcThread.get().run(coro)


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
    Every method raises `EtcdUnavailable` when etcd fails, and waits at most
    ``settings.op_timeout`` (`TimeoutError` otherwise; a watch's events
    excepted). `close` never raises. The client runs on a loop of its own
    (see `_GrpcThread`), so a session may be used from any event loop.
    """

    def __init__(self, settings: ClusterSettings, host: str, port: int) -> None:
        self.settings = settings
        self.target = f"{host}:{port}"
        self._host, self._port = host, port
        self._grpc = _GrpcThread.get()
        self._client: Any = None
        self._closed = False
        self._timeout = settings.op_timeout

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise EtcdUnavailable("the etcd session is closed")

        async def call() -> Any:
            if self._client is None:
                self._client = _client(self.settings, self._host, self._port)
            # asyncio.timeout rather than wait_for: no extra task, one loop step less
            with _errors():
                async with asyncio.timeout(self._timeout):
                    return await getattr(self._client, method)(*args, **kwargs)

        return await self._grpc.run(call())

    async def grant(self, ttl: int) -> int:
        """Grant a lease of ``ttl`` seconds; return its id."""
        lease = await self._call("lease", ttl)
        return int(lease.id)

    async def refresh(self, lease: int) -> int:
        """Keep ``lease`` alive once; return its remaining TTL (≤ 0: it expired) [s]."""
        reply = await self._call("refresh_lease", lease)
        return 0 if reply is None else int(reply.TTL)

    async def revoke(self, lease: int) -> None:
        """Revoke ``lease`` (its keys are deleted); an unknown lease is no error."""
        try:
            await self._call("revoke_lease", lease)
        except EtcdUnavailable as e:
            if "not found" in str(e):
                return
            raise

    async def put(self, key: bytes, value: bytes, lease: int) -> None:
        """Put ``key`` attached to ``lease``."""
        await self._call("put", key, value, lease=lease)

    async def delete(self, key: bytes) -> None:
        """Delete ``key`` (no error if absent)."""
        await self._call("delete", key)

    async def snapshot_at(self, prefix: str) -> tuple[list[tuple[bytes, bytes]], int]:
        """Every (key, value) under ``prefix`` and the revision of that snapshot."""
        reply = await self._call("get_prefix", prefix.encode())
        items = [(bytes(kv.key), bytes(kv.value)) for kv in reply.kvs]
        return items, int(reply.header.revision)

    async def snapshot(self, prefix: str) -> list[tuple[bytes, bytes]]:
        """Every (key, value) under ``prefix``."""
        return (await self.snapshot_at(prefix))[0]

    async def revision(self, prefix: str) -> int:
        """etcd's current revision (read with a keys-only range of ``prefix``)."""
        reply = await self._call("get_prefix", prefix.encode(), keys_only=True)
        return int(reply.header.revision)

    async def watch(self, prefix: str, start_revision: int) -> Any:
        """Start watching ``prefix`` from ``start_revision`` (inclusive)."""
        key = prefix.encode()
        return await self._call(
            "watch", key, range_end=prefix_range_end(key), start_revision=start_revision
        )

    async def events(self, watch: Any) -> AsyncIterator[WatchEvent]:
        """Yield the events of ``watch`` until it ends (then return) or fails (raise)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent | _WatchEnd] = asyncio.Queue()

        async def pump() -> None:
            end = _WatchEnd(None)
            try:
                with _errors():
                    async for event in watch:
                        kind: Literal["put", "delete"] = "put" if event.kind == "PUT" else "delete"
                        kv = event.kv
                        item = (kind, bytes(kv.key), bytes(kv.value), int(kv.mod_revision))
                        loop.call_soon_threadsafe(queue.put_nowait, item)
            except Exception as e:
                end = _WatchEnd(e)
            finally:
                with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                    loop.call_soon_threadsafe(queue.put_nowait, end)

        pumping = asyncio.run_coroutine_threadsafe(pump(), self._grpc.loop)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _WatchEnd):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            pumping.cancel()

    async def close(self) -> None:
        """Close the client (idempotent; never raises)."""
        if self._closed:
            return
        self._closed = True

        async def close() -> None:
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):  # a broken client must not fail the caller
                    await asyncio.wait_for(client.close(), self._timeout)

        with contextlib.suppress(Exception):
            await self._grpc.run(close())

    async def __aenter__(self) -> EtcdSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _WatchEnd:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
