"""The native dialect's codec, typed on both ends: pure."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mountcomm.exceptions import PoolExhaustedError, ProtocolError, RegistryError
from mountcomm.registry import native
from mountcomm.registry.entries import EventKind, PortEntry, PortEvent, Query
from mountcomm.registry.native import (
    Allocate,
    ClusterStatus,
    Done,
    EntriesReply,
    EntryReply,
    Find,
    ListPorts,
    Ping,
    PingReply,
    Refusal,
    Register,
    Release,
    Status,
    StatusReply,
    Success,
    Terminate,
    Unwatch,
    Watch,
    WatchEvent,
)
from mountcomm.registry.wire import BadRequest

# ---- the daemon parses requests ---------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"op": "ping", "id": 1}, Ping(1)),
        ({"op": "allocate", "id": "a", "service": "s"}, Allocate("s", None, "a")),
        ({"op": "allocate", "service": "s", "user": "u"}, Allocate("s", "u")),
        ({"op": "register", "id": 2, "service": "s", "port": 5}, Register("s", 5, None, 2)),
        ({"op": "release", "id": 3, "port": 5}, Release(5, 3)),
        ({"op": "list", "id": 4}, ListPorts(4)),
        ({"op": "find", "id": 5, "beginswith": "m"}, Find(None, "m", None, 5)),
        ({"op": "watch", "id": 6, "service": "s", "user": "u"}, Watch("s", None, "u", 6)),
        ({"op": "unwatch", "id": 7, "watch": 6}, Unwatch(6, 7)),
        (
            {"op": "watch", "id": 9, "service": "s", "trusted_users": ["bob"]},
            Watch("s", None, None, 9, ("bob",)),
        ),
        ({"op": "watch", "id": 9, "trusted_users": []}, Watch(id=9, trusted_users=())),
        ({"op": "terminate", "id": 8}, Terminate(8)),
        ({"op": "status", "id": 10}, Status(10)),
    ],
)
def test_parse_native_ops(obj: dict[str, object], expected: object) -> None:
    assert native.parse_request(json.dumps(obj).encode()) == expected


def test_find_and_watch_queries() -> None:
    assert Find("s", "b", "u").query == Query("s", "b", "u")
    assert Watch(user="u").query == Query(user="u")


@pytest.mark.parametrize(
    ("line", "message", "rid"),
    [
        (b"{", "not valid JSON", None),
        (b"\xff{}", "not valid UTF-8", None),
        (b"[1]", "expected a JSON object", None),
        (b'{"op": "ping", "id": true}', "id must be", None),
        (b'{"op": "ping", "id": 1.5}', "id must be", None),
        (b'{"op": "fly", "id": 1}', "unknown op 'fly'", 1),
        (b'{"id": 1}', "unknown op None", 1),
        (b'{"op": "ping", "id": 1, "x": 2}', "unknown field(s) ['x']", 1),
        (b'{"op": "allocate", "id": 1}', "missing field(s) ['service']", 1),
        (b'{"op": "allocate", "id": 1, "service": 5}', "service must be a string", 1),
        (b'{"op": "release", "id": 1, "port": "80"}', "port must be an integer", 1),
        (b'{"op": "release", "id": 1, "port": false}', "port must be an integer", 1),
        (b'{"op": "release", "id": 1, "port": 70000}', "port must be in", 1),
        (b'{"op": "unwatch", "id": 1, "watch": [1]}', "watch must be", 1),
        (b'{"op": "watch", "id": 1, "trusted_users": "bob"}', "trusted_users must be", 1),
        (b'{"op": "watch", "id": 1, "trusted_users": [5]}', "trusted_users must be", 1),
        (b'{"op": "watch", "id": 1, "trusted_users": [""]}', "trusted_users must be", 1),
        (b"[" * 5000, "not valid JSON", None),
    ],
)
def test_parse_native_errors(line: bytes, message: str, rid: object) -> None:
    result = native.parse_request(line)
    assert isinstance(result, BadRequest)
    assert message in result.message
    assert result.id == rid


def test_the_field_lists_come_from_the_classes() -> None:
    line = b'{"op": "register", "id": 1, "x": 2}'
    result = native.parse_request(line)
    assert isinstance(result, BadRequest)
    assert "expected ['service', 'port', 'user', 'host']" in result.message
    assert set(native.REQUESTS) == {
        "ping", "allocate", "register", "release", "list", "find", "watch", "unwatch",
        "status", "terminate",
    }  # fmt: skip


# ---- the client encodes requests: the same classes, the same bytes ----------------------


@pytest.mark.parametrize(
    ("request_", "line"),
    [
        (Ping(1), b'{"op":"ping","id":1}\n'),
        (Find("s", id=3), b'{"op":"find","id":3,"service":"s"}\n'),
        (
            Register("s", 5000, "u", 2, host="h"),
            b'{"op":"register","id":2,"service":"s","port":5000,"user":"u","host":"h"}\n',
        ),
        (
            Watch("s", id=4, trusted_users=("bob",)),
            b'{"op":"watch","id":4,"service":"s","trusted_users":["bob"]}\n',
        ),
        (Watch(id=5), b'{"op":"watch","id":5}\n'),
        (Unwatch(4, 6), b'{"op":"unwatch","id":6,"watch":4}\n'),
    ],
)
def test_encode_request(request_: native.NativeRequest, line: bytes) -> None:
    assert native.encode_request(request_) == line


def test_every_request_round_trips() -> None:
    requests: list[native.NativeRequest] = [
        Ping(1), Allocate("s", "u", 2), Register("s", 5, None, 3, "h"), Release(5, 4),
        ListPorts(5), Find("s", "b", "u", 6), Watch("s", None, None, 7, ("a",)), Unwatch(7, 8),
        Status(9), Terminate(10),
    ]  # fmt: skip
    assert {type(r) for r in requests} == set(native.REQUESTS.values())
    for request in requests:
        assert native.parse_request(native.encode_request(request)) == request


# ---- replies: encoded by the daemon, read by the client -------------------------------------


def read(line: bytes, request: native.Request[native.R]) -> native.R:
    message = native.read_message(line)
    assert isinstance(message, Success)
    return request.read_reply(message)


CLUSTER = ClusterStatus(
    endpoints="etcd://h:2379", endpoint="h:2379", stale=False, stale_since=None, error=None,
    daemon="d1", advertise_host="10.0.0.1", lease="7f", ttl=3.0, revision=12, published=2,
    unpublished=0, remote_entries=4, sessions=1, resyncs=1,
)  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "reply", "obj"),
    [
        (
            Ping(),
            PingReply("1.0", 42, True, "alice", 1000),
            {"version": "1.0", "pid": 42, "local": True, "user": "alice", "uid": 1000},
        ),
        (Ping(), PingReply(local=False), {"local": False, "user": None, "uid": None}),
        (
            Status(),
            StatusReply("1.0", 42, 3, None),
            {"version": "1.0", "pid": 42, "entries": 3, "cluster": None},
        ),
        (
            Status(),
            StatusReply("1.0", 42, 0, CLUSTER),
            {"version": "1.0", "pid": 42, "entries": 0, "cluster": dataclasses.asdict(CLUSTER)},
        ),
        (
            Allocate("a"),
            EntryReply(PortEntry(100, "a", "alice")),
            {"port": 100, "service": "a", "user": "alice"},
        ),
        (
            Register("a", 5),
            EntryReply(PortEntry(5, "a_1", "alice", "h"), "bob"),
            {"port": 5, "service": "a_1", "user": "alice", "host": "h", "claimed_user": "bob"},
        ),
        (
            ListPorts(),
            EntriesReply((PortEntry(1, "a", "u"), PortEntry(2, "b", "u")), (None, "v")),
            {
                "entries": [
                    {"port": 1, "service": "a", "user": "u"},
                    {"port": 2, "service": "b", "user": "u", "claimed_user": "v"},
                ]
            },
        ),
        (Find(), EntriesReply(), {"entries": []}),
        (Terminate(), Done(), {}),
    ],
)
def test_replies_round_trip(
    request_: native.NativeRequest, reply: native.Reply, obj: dict[str, object]
) -> None:
    line = native.encode_reply(7, reply)
    assert json.loads(line) == {"id": 7, "ok": True, **obj}
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert read(line, request_) == reply


def test_a_ping_reply_keeps_the_fields_in_order() -> None:
    line = native.encode_reply(1, PingReply("1.0", 42, True, None, None))
    assert (
        line == b'{"id":1,"ok":true,"version":"1.0","pid":42,"local":true,"user":null,"uid":null}\n'
    )


def test_a_reply_of_an_older_daemon_reads_with_what_it_has() -> None:
    assert read(b'{"id":1,"ok":true}\n', Ping()) == PingReply()
    assert read(b'{"id":1,"ok":true}\n', Status()) == StatusReply()


def test_refusals() -> None:
    line = native.encode_refusal(2, "pool_exhausted", "full")
    assert json.loads(line) == {"id": 2, "ok": False, "error": "pool_exhausted", "message": "full"}
    message = native.read_message(line)
    assert message == Refusal(2, "pool_exhausted", "full")
    assert isinstance(message, Refusal)
    error = message.exception()
    assert type(error) is PoolExhaustedError and str(error) == "full"
    unknown = native.read_message(b'{"id":3,"ok":false,"error":"new_kind","message":"nope"}\n')
    assert isinstance(unknown, Refusal)
    assert type(unknown.exception()) is RegistryError


def test_events_round_trip() -> None:
    event = PortEvent(EventKind.REMOVED, 5, "s", "u")
    line = native.encode_event(9, event)
    assert line == b'{"watch":9,"event":"removed","port":5,"service":"s","user":"u"}\n'
    assert native.read_message(line) == WatchEvent(9, event)
    remote = PortEvent(EventKind.ADDED, 6, "s", "u", host="h")
    assert native.read_message(native.encode_event("w", remote)) == WatchEvent("w", remote)


def test_event_kind_is_an_enum_and_a_string() -> None:
    event = PortEvent("added", 5, "s", "u")  # a plain string becomes the member
    assert event.kind is EventKind.ADDED
    assert event.kind == "added" and event.kind != "removed"
    assert event == PortEvent(EventKind.ADDED, 5, "s", "u")
    with pytest.raises(ValueError, match="moved"):
        PortEvent("moved", 5, "s", "u")  # type: ignore[arg-type]


def test_client_side_reader_refuses_garbage() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        native.read_message(b"nope\n")
    with pytest.raises(ProtocolError, match="not an object"):
        native.read_message(b"[]\n")
    with pytest.raises(ProtocolError, match=r"bad allocate reply: missing .*\['service', 'user'\]"):
        read(b'{"id":1,"ok":true,"port":1}\n', Allocate("a"))
    with pytest.raises(ProtocolError, match="port must be an integer"):
        read(b'{"id":1,"ok":true,"port":"1","service":"s","user":"u"}\n', Allocate("a"))
    with pytest.raises(ProtocolError, match="service must be a string"):
        read(b'{"id":1,"ok":true,"port":1,"service":2,"user":"u"}\n', Allocate("a"))
    with pytest.raises(ProtocolError, match="entry must be an entry"):
        read(b'{"id":1,"ok":true,"entries":[5]}\n', ListPorts())
    with pytest.raises(ProtocolError, match="a list"):
        read(b'{"id":1,"ok":true,"entries":5}\n', ListPorts())
    with pytest.raises(ProtocolError, match="pid"):
        read(b'{"id":1,"ok":true,"pid":"x"}\n', Ping())
    with pytest.raises(ProtocolError, match="an object"):
        read(b'{"id":1,"ok":true,"cluster":5}\n', Status())
    with pytest.raises(ProtocolError, match="event"):
        native.read_message(b'{"watch":1,"event":"moved","port":1,"service":"s","user":"u"}\n')


# ---- one declaration per field: the encoder and both readers follow it ---------------------


def test_each_request_names_its_reply_class_once() -> None:
    replies = {op: cls.REPLY for op, cls in native.REQUESTS.items()}
    assert replies == {
        "ping": PingReply, "allocate": EntryReply, "register": EntryReply,
        "release": EntryReply, "list": EntriesReply, "find": EntriesReply,
        "watch": EntriesReply, "unwatch": Done, "status": StatusReply, "terminate": Done,
    }  # fmt: skip


def test_null_is_an_absent_optional_field_and_no_required_one() -> None:
    line = b'{"op": "allocate", "id": 1, "service": "s", "user": null}'
    assert native.parse_request(line) == Allocate("s", None, 1)
    result = native.parse_request(b'{"op": "allocate", "id": 1, "service": null}')
    assert isinstance(result, BadRequest)
    assert result.message == "allocate: service must be a string, got None"


def test_a_bad_value_is_shown_shortened() -> None:
    line = json.dumps({"op": "allocate", "id": 1, "service": list(range(1000))}).encode()
    result = native.parse_request(line)
    assert isinstance(result, BadRequest)
    assert result.message.startswith("allocate: service must be a string, got [0, 1, 2")
    assert len(result.message) < 100


def test_the_cluster_status_is_read_by_its_declaration() -> None:
    fields = CLUSTER.fields()
    assert list(fields) == [f.name for f in dataclasses.fields(ClusterStatus)]
    # the daemon's lease TTL is an int: a number where a float is declared
    status = read(native.encode_reply(1, StatusReply(cluster=CLUSTER)), Status())
    assert status.cluster == CLUSTER
    body = {"id": 1, "ok": True, "cluster": {**fields, "ttl": 3}}
    status = read(json.dumps(body).encode(), Status())
    assert status.cluster is not None and status.cluster.ttl == 3
    for name, bad in [("ttl", "3"), ("stale", 1), ("revision", None)]:
        line = json.dumps({"id": 1, "ok": True, "cluster": {**fields, name: bad}}).encode()
        with pytest.raises(ProtocolError, match=f"bad status reply: {name} must be"):
            read(line, Status())
    partial = {k: v for k, v in fields.items() if k != "resyncs"}
    with pytest.raises(ProtocolError, match=r"missing field\(s\) \['resyncs'\]"):
        read(json.dumps({"id": 1, "ok": True, "cluster": partial}).encode(), Status())


def test_a_client_ignores_fields_it_does_not_know() -> None:
    line = b'{"id":1,"ok":true,"port":5,"service":"s","user":"u","color":"red"}\n'
    assert read(line, Allocate("s")) == EntryReply(PortEntry(5, "s", "u"))


def test_a_bad_event_names_the_field() -> None:
    with pytest.raises(ProtocolError, match="bad event: port must be an integer"):
        native.read_message(b'{"watch":1,"event":"added","port":"5","service":"s","user":"u"}\n')
    with pytest.raises(ProtocolError, match=r"bad event: missing field\(s\) \['user'\]"):
        native.read_message(b'{"watch":1,"event":"added","port":5,"service":"s"}\n')
