"""`DesiredKeys`: what a daemon wants etcd to hold. Pure: no loop, no etcd."""

from __future__ import annotations

import pytest

from mountcomm.registry.cluster.desired import DesiredKeys
from mountcomm.registry.cluster.records import ClusterRecord, decode_record, record_key
from mountcomm.registry.entries import EventKind, PortEntry, PortEvent

PREFIX = "/mc/"
HOST = "10.0.0.1"


def keys() -> DesiredKeys:
    return DesiredKeys(PREFIX, HOST, daemon="me")


def key(port: int, host: str = HOST) -> bytes:
    return record_key(PREFIX, host, port)


def added(port: int, service: str = "svc", host: str = "") -> PortEvent:
    return PortEvent(EventKind.ADDED, port, service, "alice", host=host, uid=1000)


def removed(port: int) -> PortEvent:
    return PortEvent(EventKind.REMOVED, port, "svc", "alice")


def sent_keys(batch: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bool]]:
    """(key, is a put) of each change of a batch."""
    return [(k, v is not None) for k, v in batch]


def test_a_change_is_a_record_then_a_batch_then_settled() -> None:
    desired = keys()
    assert desired.settled and desired.next_batch(10) == []
    desired.change([added(5000)], now=12.5)
    assert not desired.settled and desired.unsent == 1
    [(k, value)] = desired.next_batch(10)
    assert k == key(5000) and value is not None
    assert decode_record(k, value) == ClusterRecord("svc", HOST, 5000, "alice", 1000, 12.5, "me")
    assert desired.in_flight == 1 and desired.unsent == 0 and not desired.settled
    desired.acknowledged()
    assert desired.settled
    with pytest.raises(ValueError, match="in flight"):
        desired.acknowledged()


def test_an_entry_with_its_own_host_is_published_under_it() -> None:
    desired = keys()
    desired.change([added(5000, host="192.168.1.7")], now=1.0)
    assert list(desired.records) == [key(5000, "192.168.1.7")]


def test_a_removal_is_a_delete() -> None:
    desired = keys()
    desired.change([added(5000)], now=1.0)
    desired.change([removed(5000)], now=2.0)
    assert desired.records == {}
    assert desired.next_batch(10) == [(key(5000), None)]  # one change: the latest


def test_changes_go_in_order_and_a_key_changed_again_moves_to_the_end() -> None:
    desired = keys()
    desired.change([added(1), added(2), added(3)], now=1.0)
    desired.change([added(1, "renamed")], now=2.0)
    batch = desired.next_batch(10)
    assert [k for k, _ in batch] == [key(2), key(3), key(1)]
    assert decode_record(key(1), batch[2][1] or b"").service == "renamed"


def test_a_key_changed_while_in_flight_is_sent_again() -> None:
    desired = keys()
    desired.change([added(1)], now=1.0)
    desired.next_batch(10)
    desired.change([removed(1)], now=2.0)
    assert desired.next_batch(10) == [(key(1), None)]
    assert desired.in_flight == 2


def test_a_batch_keeps_at_most_limit_in_flight() -> None:
    desired = keys()
    desired.change([added(p) for p in range(1, 11)], now=1.0)
    assert len(desired.next_batch(4)) == 4
    assert desired.next_batch(4) == []  # four in flight already
    desired.acknowledged()
    desired.acknowledged()
    assert [k for k, _ in desired.next_batch(4)] == [key(5), key(6)]
    assert (desired.in_flight, desired.unsent) == (4, 4)


def test_changes_that_could_not_be_sent_are_first_in_line_again() -> None:
    desired = keys()
    desired.change([added(1), added(2), added(3)], now=1.0)
    batch = desired.next_batch(2)
    desired.change([added(4)], now=2.0)
    desired.unsent_again(batch[1:])
    assert desired.in_flight == 1
    assert desired.unsent_keys() == [key(2), key(3), key(4)]


def test_republish_sends_every_entry_keeps_times_and_deletes_our_stale_keys() -> None:
    desired = keys()
    desired.change([added(1), added(2)], now=1.0)
    desired.next_batch(10)  # in flight on the old session: no longer counts
    mine = ClusterRecord("old", HOST, 3, "alice", 1000, 0.5, "me").encode()
    theirs = ClusterRecord("x", "10.0.0.2", 4, "bob", 1001, 0.5, "other").encode()
    snapshot = [(key(3), mine), (key(4, "10.0.0.2"), theirs), (key(9), b"not a record")]
    entries = [PortEntry(2, "svc", "alice", uid=1000), PortEntry(5, "new", "alice", uid=1000)]
    desired.republish(entries, snapshot, now=7.0)
    assert desired.in_flight == 0
    assert desired.unsent_keys() == [key(2), key(5), key(3)]  # puts, then our stale key
    assert desired.records[key(2)].time == 1.0  # kept
    assert desired.records[key(5)].time == 7.0
    assert key(1) not in desired.records  # released while etcd was away
    batch = desired.next_batch(10)
    assert sent_keys(batch) == [(key(2), True), (key(5), True), (key(3), False)]
