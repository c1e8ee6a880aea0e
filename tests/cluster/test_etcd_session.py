"""EtcdSession: its pure reply helpers, then each operation against a real etcd."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.cluster.errors import (
    EtcdRequestError,
    EtcdUnavailable,
    RevisionCompacted,
)
from mountcomm.registry.cluster.etcd import (
    NOT_FOUND,
    EtcdSession,
    Watch,
    WatchEvent,
    _json_reply,
    _watch_result,
)
from mountcomm.registry.cluster.gateway import GatewayConnection, GatewayReply
from mountcomm.testing.etcd import EtcdServer
from tests.timing import UNIT

from .conftest import running

T = 10 * UNIT
"""Bound on any wait for etcd [s]."""

PREFIX = "/session-test/"


# ---- _json_reply ---------------------------------------------------------------------


def reply(status: int, message: object, streamed: bool = False) -> GatewayReply:
    body = json.dumps(message).encode()
    return GatewayReply(status, body + b"\n" + b'{"result":{"later":1}}\n' if streamed else body)


def test_json_reply_of_a_plain_answer() -> None:
    answer = {"header": {"revision": "7"}, "ID": "12"}
    assert _json_reply(reply(200, answer)) == answer


def test_json_reply_unwraps_a_streamed_answers_first_result() -> None:
    assert _json_reply(reply(200, {"result": {"ID": "1", "TTL": "5"}}, streamed=True)) == {
        "ID": "1",
        "TTL": "5",
    }


def test_json_reply_of_an_empty_body() -> None:
    assert _json_reply(GatewayReply(200, b"")) == {}


def test_json_reply_of_an_http_error_with_a_code() -> None:
    error = {"error": "requested lease not found", "code": 5, "message": "no such lease"}
    with pytest.raises(EtcdRequestError, match="no such lease") as caught:
        _json_reply(reply(404, error))
    assert caught.value.grpc_code == NOT_FOUND


def test_json_reply_of_an_http_error_without_a_message() -> None:
    with pytest.raises(EtcdRequestError, match="HTTP 503") as caught:
        _json_reply(reply(503, {}))
    assert caught.value.grpc_code == 0


def test_json_reply_of_a_streamed_error() -> None:
    error = {"grpc_code": 5, "http_code": 404, "message": "not found", "http_status": "Not Found"}
    with pytest.raises(EtcdRequestError, match="not found") as caught:
        _json_reply(reply(200, {"error": error}, streamed=True))
    assert caught.value.grpc_code == 5


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[1, 2]", b'"text"'])
@pytest.mark.parametrize("status", [200, 502])
def test_json_reply_of_a_body_that_is_no_json_object(body: bytes, status: int) -> None:
    with pytest.raises(EtcdUnavailable, match=f"HTTP {status}") as caught:
        _json_reply(GatewayReply(status, body))
    assert not isinstance(caught.value, EtcdRequestError)


def test_json_reply_of_an_etcd_without_the_gateway_says_so() -> None:
    with pytest.raises(EtcdUnavailable, match=r"HTTP 404.*enable-grpc-gateway=false"):
        _json_reply(GatewayReply(404, b"404 page not found\n"))


# ---- _watch_result -------------------------------------------------------------------


def test_watch_result_created() -> None:
    result = {"header": {"revision": "3"}, "created": True}
    assert _watch_result({"result": result}) == result


def test_watch_result_with_events() -> None:
    result = {"events": [{"kv": {"key": "YQ==", "mod_revision": "4"}}]}
    assert _watch_result({"result": result}) == result


@pytest.mark.parametrize("revision", [9, "9"])  # int64 comes as a JSON string
def test_watch_result_cancelled_by_compaction(revision: object) -> None:
    message = {"result": {"canceled": True, "compact_revision": revision}}
    with pytest.raises(RevisionCompacted, match="up to revision 9"):
        _watch_result(message)


def test_watch_result_cancelled_otherwise() -> None:
    message = {"result": {"canceled": True, "cancel_reason": "permission denied"}}
    with pytest.raises(EtcdUnavailable, match="cancelled the watch: permission denied") as caught:
        _watch_result(message)
    assert not isinstance(caught.value, RevisionCompacted)


@pytest.mark.parametrize(
    "message",
    [{"error": {"grpc_code": 14, "message": "unavailable"}}, {"error": "unavailable"}],
)
def test_watch_result_error(message: dict[str, object]) -> None:
    with pytest.raises(EtcdUnavailable, match="watch failed: unavailable"):
        _watch_result(message)


def test_watch_result_that_is_not_an_object() -> None:
    with pytest.raises(EtcdUnavailable, match="cannot read"):
        _watch_result({"result": [1]})


# ---- against a real etcd -------------------------------------------------------------


@pytest.fixture
async def session(etcd: EtcdServer) -> AsyncIterator[EtcdSession]:
    host, port = etcd.endpoints[0]
    async with EtcdSession(ClusterSettings(etcd.endpoints, op_timeout=5 * UNIT), host, port) as s:
        yield s


async def test_grant_refresh_revoke(session: EtcdSession) -> None:
    async with asyncio.timeout(T):
        lease = await session.grant(5)
        assert lease > 0
        assert 0 < await session.refresh(lease) <= 5
        await session.put(PREFIX.encode() + b"leased", b"v", lease)
        await session.revoke(lease)
        assert (await session.snapshot(PREFIX))[0] == []  # the lease's key went with it
        assert await session.refresh(lease) <= 0
        await session.revoke(lease)  # unknown now: no error
        await session.revoke(0x7FFF_0000_0000_0001)  # never granted: no error


async def test_concurrent_refreshes_share_one_keepalive_connection(
    session: EtcdSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keepalive connection is made once, as the request connection is.

    Each refresh waiting for it once made a keepalive connection of its own.
    """
    opened: list[GatewayConnection] = []
    real_open = GatewayConnection.open

    async def counting_open(*args: Any, **kwargs: Any) -> GatewayConnection:
        opened.append(await real_open(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(GatewayConnection, "open", counting_open)
    async with asyncio.timeout(T):
        lease = await session.grant(5)
        ttls = await asyncio.gather(*(session.refresh(lease) for _ in range(3)))
    assert all(0 < ttl <= 5 for ttl in ttls)
    assert len(opened) == 2  # the request connection and one keepalive connection


async def test_put_with_an_unknown_lease_is_refused(session: EtcdSession) -> None:
    async with asyncio.timeout(T):
        with pytest.raises(EtcdRequestError, match="lease not found") as caught:
            await session.put(PREFIX.encode() + b"k", b"v", 0x7FFF_0000_0000_0002)
        assert caught.value.grpc_code == NOT_FOUND
        # a refused change leaves the session usable
        await session.put(PREFIX.encode() + b"k", b"v", 0)
        assert (await session.snapshot(PREFIX))[0] == [(PREFIX.encode() + b"k", b"v")]


async def test_changes_sent_back_to_back_are_applied_in_send_order(
    etcd: EtcdServer, session: EtcdSession
) -> None:
    prefix = PREFIX.encode()
    async with asyncio.timeout(T):
        await session.connection()
        start = await session.revision(PREFIX) + 1
        sent: list[tuple[str, bytes]] = []
        answers = []
        for i in range(200):  # all sent before any answer is awaited
            key = prefix + b"k%03d" % (i * 37 % 50)  # keys repeat, out of key order
            if i % 7 == 3:
                answers.append(session.send_change(key, None, 0))
                sent.append(("delete", key))
            else:
                answers.append(session.send_change(key, b"v%d" % i, 0))
                sent.append(("put", key))
        await asyncio.gather(*answers)
        history = await etcd.history(prefix, start)
    # a delete of an absent key makes no revision: drop those from what was sent
    present: set[bytes] = set()
    expected = []
    for kind, key in sent:
        if kind == "put" or key in present:
            expected.append((kind, key))
        (present.add if kind == "put" else present.discard)(key)
    assert [(kind, key) for kind, key, _ in history] == expected
    revisions = [revision for _, _, revision in history]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def test_snapshot_revision_and_value_at(session: EtcdSession) -> None:
    key = PREFIX.encode() + b"a"
    async with asyncio.timeout(T):
        await session.put(key, b"one", 0)
        items, first = await session.snapshot(PREFIX)
        assert items == [(key, b"one")]
        assert await session.revision(PREFIX) == first
        await session.put(key, b"two", 0)
        await session.put(PREFIX.encode() + b"b", b"", 0)
        items, now = await session.snapshot(PREFIX)
        assert items == [(key, b"two"), (PREFIX.encode() + b"b", b"")]
        assert now == first + 2 == await session.revision(PREFIX)
        assert await session.value_at(key, first) == b"one"
        assert await session.value_at(key, now) == b"two"
        assert await session.value_at(PREFIX.encode() + b"b", first) is None
        await session.delete(key)
        assert await session.value_at(key, now + 1) is None
        assert (await session.snapshot(PREFIX))[0] == [(PREFIX.encode() + b"b", b"")]
        assert (await session.snapshot("/elsewhere/"))[0] == []


async def collect(session: EtcdSession, watch: Watch, count: int) -> list[WatchEvent]:
    """The first ``count`` events of ``watch`` (the generator is closed on leaving)."""
    events: list[WatchEvent] = []
    async with contextlib.aclosing(session.events(watch)) as stream:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_a_watch_sees_puts_and_deletes_with_their_revisions(session: EtcdSession) -> None:
    key = PREFIX.encode() + b"w"
    async with asyncio.timeout(T):
        start = await session.revision(PREFIX) + 1
        watch = await session.watch(PREFIX, start)
        await session.put(key, b"1", 0)
        await session.put(b"/not-watched/x", b"-", 0)
        await session.put(key, b"2", 0)
        await session.delete(key)
        events = await collect(session, watch, 3)
    assert events == [
        ("put", key, b"1", start),
        ("put", key, b"2", start + 2),
        ("delete", key, b"", start + 3),
    ]
    assert watch.connection.closed  # events() closes its watch when left


async def test_a_watch_from_a_compacted_revision_raises_revision_compacted(
    session: EtcdSession,
) -> None:
    key = PREFIX.encode() + b"c"
    async with asyncio.timeout(T):
        for i in range(3):
            await session.put(key, b"%d" % i, 0)
        current = await session.revision(PREFIX)
        await session.compact(current)
        watch = await session.watch(PREFIX, current - 1)
        with pytest.raises(RevisionCompacted, match=f"up to revision {current}"):
            await collect(session, watch, 1)
        # from the compaction revision on, watching works
        watch = await session.watch(PREFIX, current)
        assert await collect(session, watch, 1) == [("put", key, b"2", current)]


async def test_close_is_idempotent_and_ends_watches(etcd: EtcdServer) -> None:
    host, port = etcd.endpoints[0]
    session = EtcdSession(ClusterSettings(etcd.endpoints, op_timeout=5 * UNIT), host, port)
    async with asyncio.timeout(T):
        watch = await session.watch(PREFIX, await session.revision(PREFIX) + 1)
        waiting = asyncio.ensure_future(collect(session, watch, 1))
        await session.close()
        await session.close()
        with pytest.raises(EtcdUnavailable):
            await waiting
    assert watch.connection.closed
    with pytest.raises(EtcdUnavailable, match="closed"):
        await session.revision(PREFIX)
    with pytest.raises(EtcdUnavailable, match="no live connection"):
        session.send_change(b"/k", b"v", 0)


async def test_close_during_the_first_connect_fails_the_waiting_request(
    etcd: EtcdServer,
) -> None:
    """A request waiting for the connection gets EtcdUnavailable, not a stray CancelledError."""
    host, port = etcd.endpoints[0]
    session = EtcdSession(ClusterSettings(etcd.endpoints, op_timeout=5 * UNIT), host, port)
    request = asyncio.ensure_future(session.revision(PREFIX))
    await asyncio.sleep(0)  # one step of the request: it starts the connect and waits
    connecting = session._made["requests"]
    assert connecting is not None and not connecting.done()
    await session.close()
    with pytest.raises(EtcdUnavailable, match="closed"):
        async with asyncio.timeout(T):
            await request
    assert connecting.cancelled()


async def test_cancelling_a_request_waiting_for_the_connection_leaves_the_connect(
    session: EtcdSession,
) -> None:
    request = asyncio.ensure_future(session.revision(PREFIX))
    await asyncio.sleep(0)  # one step of the request: it starts the connect and waits
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    async with asyncio.timeout(T):
        assert await session.revision(PREFIX) >= 1  # the connect went on


async def test_a_session_to_a_port_where_nothing_listens_fails_quickly() -> None:
    """Refused at once: well within T, though each request may wait a minute."""
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ClusterSettings((("127.0.0.1", port),), op_timeout=60.0)
    async with EtcdSession(settings, "127.0.0.1", port) as session:
        with pytest.raises(EtcdUnavailable, match="cannot connect"):
            async with asyncio.timeout(T):
                await session.grant(5)
        with pytest.raises(EtcdUnavailable, match="cannot connect"):  # and stays failed
            async with asyncio.timeout(T):
                await session.revision(PREFIX)


async def test_an_etcd_without_its_json_gateway_is_named_as_the_cause(tmp_path):
    gateway_off = EtcdServer(tmp_path, extra_args=["--enable-grpc-gateway=false"])
    async with running(gateway_off) as server:
        settings = ClusterSettings(server.endpoints, op_timeout=T)
        async with EtcdSession(settings, *server.endpoints[0]) as session:
            with pytest.raises(EtcdUnavailable, match=r"HTTP 404.*enable-grpc-gateway=false"):
                async with asyncio.timeout(T):
                    await session.grant(5)
