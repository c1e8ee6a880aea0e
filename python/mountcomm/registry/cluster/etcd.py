"""The few etcd operations a registry daemon needs, over etcd's JSON gateway, with typed errors.

`EtcdSession` talks to one etcd endpoint through its v3 JSON gateway
(``POST /v3/kv/put`` and so on; see `gateway`), on the caller's event loop,
with no client library and no thread. Changes sent with
`EtcdSession.send_change` are pipelined on one connection, and etcd applies
them in the order sent; lease keepalives (`EtcdSession.refresh`) and each
watch have a connection of their own, so that neither waits behind them.
Failures are raised as the errors of `errors`.
"""

from __future__ import annotations

__all__ = [
    "NOT_FOUND",
    "EtcdRequestError",
    "EtcdSession",
    "EtcdUnavailable",
    "RevisionCompacted",
    "Watch",
    "WatchEvent",
]

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal

from ...protocol.lines import first_line
from .errors import EtcdRequestError, EtcdUnavailable, RevisionCompacted
from .gateway import GatewayConnection, GatewayReply, GatewayStream
from .http import authority
from .records import prefix_range_end
from .settings import ClusterSettings

WatchEvent = tuple[Literal["put", "delete"], bytes, bytes, int]
"""(kind, key, value, revision) of one etcd watch event."""

NOT_FOUND = 5
"""etcd's (gRPC's) code for "not found", e.g. an unknown lease."""

_REQUESTS, _KEEPALIVE, _WATCH = "requests", "keepalive", "watch"
"""What a session's connection is for: each watch has one of its own."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _json_reply(reply: GatewayReply) -> dict[str, Any]:
    """The answer's object; a streamed answer's first ``result``; an error raised."""
    body = reply.body.strip()
    try:
        message = json.loads(first_line(body)) if body else {}
    except ValueError:
        message = None
    if not isinstance(message, dict):
        hint = _NO_GATEWAY if reply.status == 404 else ""
        raise EtcdUnavailable(f"etcd answered HTTP {reply.status}: {body[:200]!r}{hint}")
    result = _result(message, reply.status)
    return result if isinstance(result, dict) else {}


def _result(message: dict[str, Any], status: int = 200) -> object:
    """A message's ``result`` (or the message itself); etcd's error raised.

    Raises
    ------
    EtcdRequestError
        If the message is an error, or ``status`` is not 200.
    """
    error = message.get("error")
    if isinstance(error, dict):  # the shape of an error inside a streamed answer
        message = error
    if status != 200 or error is not None:
        text = message.get("message") or message.get("error") or f"HTTP {status}"
        code = message.get("code", message.get("grpc_code", 0))
        raise EtcdRequestError(str(text), int(code) if isinstance(code, int) else 0)
    return message.get("result", message)


_NO_GATEWAY = (
    " (is this etcd ≥ 3.4 with its JSON gateway on? It is unless etcd runs with"
    " --enable-grpc-gateway=false)"
)


def _range(prefix: str, **fields: object) -> dict[str, object]:
    """The request fields of the key range of every key starting with ``prefix``."""
    key = prefix.encode()
    return {"key": _b64(key), "range_end": _b64(prefix_range_end(key)), **fields}


def _ssl_context(settings: ClusterSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.cert_file is not None:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


@dataclass(frozen=True, slots=True)
class Watch:
    """A watch on a key range: its own connection, carrying etcd's stream."""

    connection: GatewayConnection
    stream: GatewayStream

    def close(self) -> None:
        """End the watch (idempotent)."""
        self.connection.close()


class EtcdSession:
    """One etcd endpoint, reached through its JSON gateway.

    Parameters
    ----------
    settings : `ClusterSettings`
        Credentials, TLS files, request timeout.
    host, port
        The endpoint.

    Notes
    -----
    The connection is made (and, with credentials, the session
    authenticated) on the first request. Every method raises
    `EtcdUnavailable` when etcd fails, and each answer is awaited at most
    ``settings.op_timeout`` (a watch's events excepted); after a failure the
    session is unusable. `close` (idempotent, never raises) ends the
    connection and every watch. Not thread-safe: use one session from one
    event loop.
    """

    def __init__(self, settings: ClusterSettings, host: str, port: int) -> None:
        self.settings = settings
        self.target = authority(host, port)
        self._host, self._port = host, port
        self._timeout = settings.op_timeout
        self._ssl = _ssl_context(settings)
        self._headers: tuple[tuple[str, str], ...] = ()
        self._made: dict[str, asyncio.Task[GatewayConnection]] = {}  # by _REQUESTS, _KEEPALIVE
        self._requests: GatewayConnection | None = None  # once made and authenticated
        self._connections: list[GatewayConnection] = []  # every one made, to close
        self._closed = False

    # ---- connections ---------------------------------------------------------------

    async def _connect(self, use: str) -> GatewayConnection:
        """A new connection (for requests: authenticated; else: with the session's token)."""
        if use != _REQUESTS:
            await self.connection()  # authenticated first, so that it carries the token
        try:
            connection = await GatewayConnection.open(
                self._host,
                self._port,
                timeout=self._timeout,
                ssl_context=self._ssl,
                headers=self._headers,
            )
        except (OSError, ssl.SSLError) as e:
            raise EtcdUnavailable(f"cannot connect to etcd at {self.target}: {e}") from e
        self._connections = [c for c in self._connections if not c.closed] + [connection]
        try:
            self._check_open()  # closed meanwhile
            if use == _REQUESTS and self.settings.user is not None:
                reply = await connection.request(
                    "/v3/auth/authenticate",
                    {"name": self.settings.user, "password": self.settings.password},
                    _json_reply,
                )
                self._headers = connection.headers = (
                    ("Authorization", str(reply.get("token", ""))),
                )
        except BaseException:
            connection.close()
            raise
        return connection

    def _check_open(self) -> None:
        if self._closed:
            raise EtcdUnavailable("the etcd session is closed")

    async def _shared(self, use: str) -> GatewayConnection:
        """The session's connection for ``use``, made on first use."""
        self._check_open()
        made = self._made.get(use)
        if made is None:
            made = self._made[use] = asyncio.create_task(self._connect(use))
        if not made.done():
            # asyncio.wait: a cancellation of the caller propagates (the connect goes on);
            # the connect's own, by close(), must reach the caller as EtcdUnavailable
            await asyncio.wait([made])
            self._check_open()
        connection = made.result()
        if connection.closed:
            raise EtcdUnavailable(f"the connection to etcd at {self.target} has ended")
        return connection

    async def connection(self) -> GatewayConnection:
        """The session's request connection, made (and authenticated) if need be."""
        self._requests = await self._shared(_REQUESTS)
        return self._requests

    async def request(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST path`` with ``payload``; return etcd's answer (a ``result`` unwrapped)."""
        connection = await self.connection()
        return await connection.request(path, payload, _json_reply)

    # ---- operations ----------------------------------------------------------------

    async def grant(self, ttl: int) -> int:
        """Grant a lease of ``ttl`` seconds; return its id."""
        return int((await self.request("/v3/lease/grant", {"TTL": ttl}))["ID"])

    async def refresh(self, lease: int) -> int:
        """Keep ``lease`` alive once; return its remaining TTL (≤ 0: it expired) [s].

        Sent on the session's keepalive connection (made on first use), never
        behind the changes pipelined on its request connection.
        """
        keepalive = await self._shared(_KEEPALIVE)
        reply = await keepalive.request("/v3/lease/keepalive", {"ID": lease}, _json_reply)
        return int(reply.get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """Revoke ``lease`` (its keys are deleted); an unknown lease is no error."""
        try:
            await self.request("/v3/lease/revoke", {"ID": lease})
        except EtcdRequestError as e:
            if e.grpc_code != NOT_FOUND:
                raise

    async def put(self, key: bytes, value: bytes, lease: int) -> None:
        """Put ``key`` attached to ``lease``."""
        await self.connection()
        await self.send_change(key, value, lease)

    async def delete(self, key: bytes) -> None:
        """Delete ``key`` (no error if absent)."""
        await self.connection()
        await self.send_change(key, None, 0)

    def send_change(
        self, key: bytes, value: bytes | None, lease: int
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a put of ``key`` (a delete if ``value`` is `None`) now; return its answer.

        The change is pipelined after the session's earlier requests, and
        etcd applies it after them. The future fails with `EtcdRequestError`
        if etcd refuses the change, with `EtcdUnavailable` if the connection
        ends first.

        Raises
        ------
        EtcdUnavailable
            If the session has no live connection (see `connection`).
        """
        connection = self._requests
        if connection is None or connection.closed or self._closed:
            raise EtcdUnavailable(f"no live connection to etcd at {self.target}")
        if value is None:
            return connection.request("/v3/kv/deleterange", {"key": _b64(key)}, _json_reply)
        payload = {"key": _b64(key), "value": _b64(value), "lease": lease}
        return connection.request("/v3/kv/put", payload, _json_reply)

    async def snapshot(self, prefix: str) -> tuple[list[tuple[bytes, bytes]], int]:
        """Every (key, value) under ``prefix``, and the revision of that snapshot."""
        reply = await self.request("/v3/kv/range", _range(prefix))
        items = [(_unb64(kv["key"]), _unb64(kv.get("value", ""))) for kv in reply.get("kvs", [])]
        return items, int(reply["header"]["revision"])

    async def revision(self, prefix: str) -> int:
        """etcd's current revision (read with a count-only range of ``prefix``)."""
        reply = await self.request("/v3/kv/range", _range(prefix, count_only=True))
        return int(reply["header"]["revision"])

    async def value_at(self, key: bytes, revision: int) -> bytes | None:
        """The value ``key`` had at ``revision`` (`None` if it had none)."""
        reply = await self.request("/v3/kv/range", {"key": _b64(key), "revision": revision})
        kvs = reply.get("kvs", [])
        return _unb64(kvs[0].get("value", "")) if kvs else None

    async def compact(self, revision: int) -> None:
        """Compact etcd's history up to ``revision`` (physically)."""
        await self.request("/v3/kv/compaction", {"revision": revision, "physical": True})

    async def watch(self, prefix: str, start_revision: int) -> Watch:
        """Watch ``prefix`` from ``start_revision`` (inclusive), on a connection of its own."""
        connection = await self._connect(_WATCH)
        create = _range(prefix, start_revision=start_revision)
        try:
            stream = await connection.stream("/v3/watch", {"create_request": create})
            async with asyncio.timeout(self._timeout):
                created = _watch_result(await anext(stream))
            if not created.get("created"):
                raise EtcdUnavailable(f"the etcd watch did not start: {created!r:.200}")
        except StopAsyncIteration as e:
            connection.close()
            raise EtcdUnavailable(f"the etcd watch did not start: {e}") from e
        except BaseException:
            connection.close()
            raise
        return Watch(connection, stream)

    async def events(self, watch: Watch) -> AsyncGenerator[WatchEvent, None]:
        """Yield the events of ``watch`` until it ends (then return) or fails (raise)."""
        try:
            async for message in watch.stream:
                result = _watch_result(message)
                for event in result.get("events", ()):
                    kv = event["kv"]
                    kind: Literal["put", "delete"] = (
                        "delete" if event.get("type") == "DELETE" else "put"
                    )
                    value = _unb64(kv.get("value", ""))
                    yield kind, _unb64(kv["key"]), value, int(kv["mod_revision"])
        except (KeyError, ValueError, TypeError) as e:
            raise EtcdUnavailable(f"etcd sent a watch event we cannot read: {e!r}") from e
        finally:
            watch.close()

    async def close(self) -> None:
        """Close the connection and every watch (idempotent; never raises)."""
        if self._closed:
            return
        self._closed = True
        made = list(self._made.values())
        for task in made:
            task.cancel()  # (no effect on a connect that has ended)
        if made:
            await asyncio.wait(made)
        for task in made:
            if not task.cancelled():
                task.exception()  # retrieved: a caller may have given up waiting for it
        for connection in self._connections:
            connection.close()
        self._connections.clear()

    async def __aenter__(self) -> EtcdSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _watch_result(message: dict[str, Any]) -> dict[str, Any]:
    """A watch message's result; a cancelled watch or an error raised."""
    try:
        result = _result(message)
    except EtcdRequestError as e:
        raise EtcdUnavailable(f"the etcd watch failed: {e}") from e
    if not isinstance(result, dict):
        raise EtcdUnavailable(f"etcd sent a watch message we cannot read: {message!r:.200}")
    if result.get("canceled"):
        compacted = int(result.get("compact_revision", 0))
        if compacted:
            raise RevisionCompacted(f"etcd compacted its history up to revision {compacted}")
        raise EtcdUnavailable(f"etcd cancelled the watch: {result.get('cancel_reason', '')}")
    return result
