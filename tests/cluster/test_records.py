"""The published records, the cluster URL and the mirrored view: pure tests."""

from __future__ import annotations

import json

import pytest

from mountcomm.registry.cluster import (
    ClusterRecord,
    ClusterSettings,
    ClusterView,
    decode_record,
    parse_cluster_url,
    record_key,
)
from mountcomm.registry.cluster.records import prefix_range_end
from mountcomm.registry.entries import PortEntry, PortEvent, Query

P = "/mountcomm/v1/"


def record(service="svc", host="10.0.0.2", port=5000, daemon="d2", when=1.0) -> ClusterRecord:
    return ClusterRecord(service, host, port, "alice", 1000, when, daemon)


def put(view: ClusterView, rec: ClusterRecord, revision: int) -> list[PortEvent]:
    return view.put(record_key(P, rec.host, rec.port), rec.encode(), revision)


def test_record_round_trips_and_names_its_host_and_port():
    rec = record()
    key = record_key(P, rec.host, rec.port)
    assert key == b"/mountcomm/v1/ports/10.0.0.2/5000"
    assert decode_record(key, rec.encode()) == rec
    assert rec.entry == PortEntry(5000, "svc", "alice", "10.0.0.2")
    assert rec.entry.uid == 1000  # the uid the publishing daemon verified


def test_view_answers_trusted_queries_by_the_published_uid():
    view = ClusterView("me")
    put(view, record(), 2)
    put(view, ClusterRecord("svc", "10.0.0.3", 5001, "bob", None, 1.0, "d3"), 3)
    [trusted] = view.entries(Query(service="svc", trusted=frozenset({0, 1000})))
    assert (trusted.host, trusted.user, trusted.uid) == ("10.0.0.2", "alice", 1000)
    assert view.entries(Query(trusted=frozenset({0}))) == []  # unverified: never trusted
    # a changed uid is a new entry to a trusted watcher: removed, then added with it
    removed, added = put(view, ClusterRecord("svc", "10.0.0.3", 5001, "bob", 1001, 1.0, "d3"), 4)
    assert (removed.kind, removed.uid, added.kind, added.uid) == ("removed", None, "added", 1001)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": "5000"}, "port"),
        ({"host": "a/b"}, "host"),
        ({"service": "has space"}, "service"),
        ({"uid": True}, "uid"),
        ({"time": "now"}, "time"),
        ({"port": 5001}, "not its key"),
    ],
)
def test_a_bad_value_is_refused_with_a_reason(change, message):
    obj = json.loads(record().encode())
    obj.update(change)
    with pytest.raises(ValueError, match=message):
        decode_record(b"/mountcomm/v1/ports/10.0.0.2/5000", json.dumps(obj).encode())


@pytest.mark.parametrize("port", [0, 70000])
def test_a_value_with_a_port_out_of_range_is_refused_even_under_its_key(port):
    """A record is checked as `record_key` checks a key: it once took any int as a port."""
    obj = {**json.loads(record().encode()), "port": port}
    with pytest.raises(ValueError, match="port must be in"):
        decode_record(f"/mountcomm/v1/ports/10.0.0.2/{port}".encode(), json.dumps(obj).encode())


def test_garbage_values_are_refused():
    for value in (b"", b"\xff", b"[]", b"{" * 5000, b'{"a": 1}'):
        with pytest.raises(ValueError):
            decode_record(b"/mountcomm/v1/ports/h/1", value)


def test_record_key_refuses_what_would_break_the_key():
    for host, port in (("a/b", 1), ("a b", 1), ("", 1), ("h", 0), ("h", 70000)):
        with pytest.raises(ValueError):
            record_key(P, host, port)


def test_prefix_range_end():
    assert prefix_range_end(b"/a/") == b"/a0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff") == b"\0"


def test_parse_cluster_url():
    assert parse_cluster_url("etcd://10.0.0.1:2379,h2:23790, [::1]:5") == (
        ("10.0.0.1", 2379),
        ("h2", 23790),
        ("::1", 5),
    )
    assert parse_cluster_url("etcd://h") == (("h", 2379),)
    for bad in ("http://h:1", "etcd://", "etcd://h:x", "etcd://h:0", "etcd://[::1]x", "h:1"):
        with pytest.raises(ValueError, match="etcd"):
            parse_cluster_url(bad)


def test_settings_check_their_values():
    s = ClusterSettings.from_url("etcd://h:1,[::1]:2", ttl=3)
    assert s.url == "etcd://h:1,[::1]:2" and not s.tls
    for kwargs in ({"ttl": 6}, {"ttl": 0}, {"user": "u"}, {"cert_file": "c"}, {"prefix": "x"}):
        with pytest.raises(ValueError):
            ClusterSettings((("h", 1),), **kwargs)
    assert ClusterSettings((("h", 1),), ca_file="ca").tls


def test_view_reports_other_daemons_entries_and_not_its_own():
    view = ClusterView("me")
    assert put(view, record(daemon="me"), 2) == []
    events = put(view, record(), 3)
    assert events == [PortEvent("added", 5000, "svc", "alice", host="10.0.0.2")]
    assert view.entries() == [PortEntry(5000, "svc", "alice", "10.0.0.2")]
    assert view.entries(Query(service="other")) == []
    assert view.revision == 3


def test_two_hosts_may_hold_the_same_service():
    view = ClusterView("me")
    put(view, record(host="h1"), 2)
    put(view, record(host="h2"), 3)
    assert [e.host for e in view.entries(Query(service="svc"))] == ["h1", "h2"]


def test_a_put_that_changes_nothing_visible_is_no_event():
    view = ClusterView("me")
    put(view, record(when=1.0), 2)
    assert put(view, record(when=2.0), 3) == []  # republished under a new lease
    events = put(view, record(service="renamed"), 4)
    assert [(e.kind, e.service) for e in events] == [("removed", "svc"), ("added", "renamed")]


def test_delete_and_invalid_values():
    view = ClusterView("me")
    put(view, record(), 2)
    key = record_key(P, "10.0.0.2", 5000)
    assert [e.kind for e in view.put(key, b"junk", 3)] == ["removed"]
    assert view.invalid == 1
    assert view.delete(key, 4) == []
    put(view, record(), 5)
    assert [e.kind for e in view.delete(key, 6)] == ["removed"]
    assert len(view) == 0 and view.revision == 6


def test_resync_reports_the_difference():
    view = ClusterView("me")
    put(view, record(port=1), 2)
    put(view, record(port=2), 3)
    put(view, record(port=3), 4)
    snapshot = [
        (record_key(P, "10.0.0.2", 2), record(port=2, when=9.0).encode()),  # unchanged
        (record_key(P, "10.0.0.2", 3), record(port=3, service="new").encode()),  # changed
        (record_key(P, "10.0.0.2", 4), record(port=4).encode()),  # new
        (record_key(P, "10.0.0.2", 5), record(port=5, daemon="me").encode()),  # own
        (record_key(P, "10.0.0.2", 6), b"junk"),
    ]
    events = view.resync(snapshot, 20)
    assert [(e.kind, e.port, e.service) for e in events] == [
        ("removed", 1, "svc"),
        ("removed", 3, "svc"),
        ("added", 3, "new"),
        ("added", 4, "svc"),
    ]
    assert view.revision == 20 and view.invalid == 1
    assert [e.port for e in view.entries()] == [2, 3, 4]


def test_a_registrant_may_name_its_host():
    from mountcomm.exceptions import RegistryRequestError
    from mountcomm.registry import native, wire
    from mountcomm.registry.entries import Lease
    from mountcomm.registry.store import PortStore

    store = PortStore([(1, 10)], host="10.0.0.2")
    lease = Lease("connection", 1)
    assert store.register("a", 5000, "u", lease).entry.host == "10.0.0.2"
    assert store.register("b", 5001, "u", lease, host="192.168.1.7").entry.host == "192.168.1.7"
    for bad in ("a/b", "a b", ""):
        with pytest.raises(RegistryRequestError):
            store.register("c", 5002, "u", lease, host=bad)
    request = native.parse_request(b'{"op":"register","service":"s","port":1,"host":"h1"}')
    assert isinstance(request, native.Register) and request.host == "h1"
    assert isinstance(
        native.parse_request(b'{"op":"register","service":"s","port":1,"host":7}'), wire.BadRequest
    )
