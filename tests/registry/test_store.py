"""The allocation table: pure, no sockets, no event loop."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.exceptions import (
    PoolExhaustedError,
    PortInUseError,
    RegistryPermissionError,
    RegistryRequestError,
    UnknownPortError,
)
from mountcomm.registry.entries import Lease, PortEntry, PortEvent, Query, validate_name
from mountcomm.registry.store import PortStore, format_pool, normalize_pool, parse_pool

A = Lease("connection", 1)
B = Lease("connection", 2)
P = Lease("pid", 4242)


def test_pure_modules_import_no_asyncio_and_no_socket() -> None:
    code = (
        "import sys; import mountcomm.registry.store, mountcomm.registry.wire; "
        "bad = {'asyncio', 'socket'} & set(sys.modules); print(sorted(bad)); "
        "sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_allocate_walks_pool_round_robin() -> None:
    store = PortStore([(100, 102)])
    ports = [store.allocate(f"s{i}", "alice", A).entry.port for i in range(3)]
    assert ports == [100, 101, 102]
    store.release(101, A)
    # the cursor moves on: the next port after the last one handed out, wrapping
    assert store.allocate("again", "alice", A).entry == PortEntry(101, "again", "alice")


def test_allocate_event_and_entry() -> None:
    store = PortStore([(100, 109)])
    change = store.allocate("svc", "alice", A)
    assert change.entry == PortEntry(100, "svc", "alice")
    assert change.events == (PortEvent("added", 100, "svc", "alice"),)
    assert store.get(100) == change.entry
    assert store.lease_of(100) == A
    assert 100 in store and len(store) == 1


def test_duplicate_names_get_suffixes_per_user() -> None:
    store = PortStore([(100, 109)])
    names = [store.allocate("svc", "alice", A).entry.service for _ in range(3)]
    assert names == ["svc", "svc_1", "svc_2"]
    # another user may hold the plain name
    assert store.allocate("svc", "bob", B).entry.service == "svc"
    # names are worked out in port order, as the NSCL port manager does at each LIST
    store.release(101, A)
    assert [e.service for e in store.entries(Query(user="alice"))] == ["svc", "svc_1"]
    assert store.allocate("svc", "alice", A).entry.service == "svc_2"


def test_survivor_of_a_name_becomes_the_plain_name() -> None:
    store = PortStore([(100, 109)])
    store.allocate("svc", "alice", A)
    store.allocate("svc", "alice", B)
    change = store.end_lease(A)
    # the first holder left: the survivor is found as "svc", and watchers are told
    assert change.events == (
        PortEvent("removed", 100, "svc", "alice"),
        PortEvent("removed", 101, "svc_1", "alice"),
        PortEvent("added", 101, "svc", "alice"),
    )
    assert store.entries(Query(service="svc")) == [PortEntry(101, "svc", "alice")]


def test_a_lease_ending_with_all_of_a_name_renames_nothing() -> None:
    store = PortStore([(100, 109)])
    store.allocate("svc", "alice", A)
    store.allocate("svc", "alice", A)
    store.allocate("svc", "alice", B)
    assert store.end_lease(A).events == (
        PortEvent("removed", 100, "svc", "alice"),
        PortEvent("removed", 101, "svc_1", "alice"),
        PortEvent("removed", 102, "svc_2", "alice"),
        PortEvent("added", 102, "svc", "alice"),
    )
    assert store.end_lease(B).events == (PortEvent("removed", 102, "svc", "alice"),)


def test_a_lower_port_takes_the_plain_name_and_renames_the_others() -> None:
    store = PortStore([(100, 109)])
    store.register("svc", 5000, "alice", A)
    change = store.register("svc", 4000, "alice", B)
    assert change.entry == PortEntry(4000, "svc", "alice")
    assert change.events == (
        PortEvent("removed", 5000, "svc", "alice"),
        PortEvent("added", 4000, "svc", "alice"),
        PortEvent("added", 5000, "svc_1", "alice"),
    )


def test_suffixes_skip_names_requested_as_such() -> None:
    store = PortStore([(100, 109)])
    store.register("svc", 5000, "alice", A)
    store.register("svc", 5001, "alice", A)  # svc_1
    change = store.register("svc_1", 5002, "alice", A)
    # the plain request "svc_1" wins its name; the duplicate of svc moves on to svc_2
    assert change.events == (
        PortEvent("removed", 5001, "svc_1", "alice"),
        PortEvent("added", 5001, "svc_2", "alice"),
        PortEvent("added", 5002, "svc_1", "alice"),
    )
    store.release(5002, A)
    assert [e.service for e in store.entries()] == ["svc", "svc_1"]
    names = [e.service for e in store.entries()]
    assert len(names) == len(set(names))


def test_owner_uid_and_claimed_user_are_recorded() -> None:
    store = PortStore([(100, 109)])
    entry = store.allocate("svc", "alice", A, uid=1000, claimed="bob").entry
    assert entry is not None and entry.uid == 1000 and entry.user == "alice"
    assert store.claimed_user(100) == "bob"
    assert store.allocate("svc2", "alice", A, uid=1000, claimed="alice").entry is not None
    assert store.claimed_user(101) is None
    store.release(100, A)
    assert store.claimed_user(100) is None


def test_trusted_query_accepts_only_verified_owners_it_names() -> None:
    store = PortStore([(100, 109)])
    store.register("svc", 5000, "nobody", A, uid=65534)
    store.register("svc", 5001, "root", B, uid=0)
    store.register("svc", 5002, "ghost", B)  # owner not verified
    trusted = Query(service="svc", trusted=frozenset({0, 1000}))
    assert [e.port for e in store.entries(trusted)] == [5001]
    assert len(store.entries(Query(service="svc"))) == 3


def test_entries_by_user_orders_as_nscl_list() -> None:
    store = PortStore([(100, 109)])
    store.register("zeta", 5000, "bob", A)
    store.register("beta", 5001, "alice", A)
    store.register("alpha", 5002, "bob", A)
    assert [(e.user, e.service) for e in store.entries_by_user()] == [
        ("alice", "beta"),
        ("bob", "alpha"),
        ("bob", "zeta"),
    ]


def test_register_suffixes_and_conflicts() -> None:
    store = PortStore([(100, 109)])
    assert store.register("svc", 5000, "alice", A).entry == PortEntry(5000, "svc", "alice")
    assert store.register("svc", 5001, "alice", B).entry == PortEntry(5001, "svc_1", "alice")
    with pytest.raises(PortInUseError, match="5000 is already registered as 'svc'"):
        store.register("other", 5000, "bob", B)
    for bad in (0, 65536, -1, True, "80"):
        with pytest.raises(RegistryRequestError, match="port must be"):
            store.register("x", bad, "alice", A)


def test_allocation_skips_registered_and_busy_ports() -> None:
    busy = {101}
    store = PortStore([(100, 103)], is_free=lambda port: port not in busy)
    store.register("reg", 100, "alice", A)
    assert store.allocate("a", "alice", A).entry.port == 102
    assert store.allocate("b", "alice", A).entry.port == 103
    with pytest.raises(PoolExhaustedError, match=r"100-103: 3 held .* 1 in use"):
        store.allocate("c", "alice", A)
    busy.clear()
    assert store.allocate("c", "alice", A).entry.port == 101


def test_failed_allocation_changes_nothing() -> None:
    store = PortStore([(100, 100)])
    store.allocate("a", "alice", A)
    with pytest.raises(PoolExhaustedError):
        store.allocate("a", "alice", A)
    with pytest.raises(RegistryRequestError):
        store.allocate("bad name", "alice", A)
    assert store.entries() == [PortEntry(100, "a", "alice")]


def test_release_only_by_its_lease() -> None:
    store = PortStore([(100, 109)])
    store.allocate("svc", "alice", A)
    with pytest.raises(RegistryPermissionError, match="only its own ports"):
        store.release(100, B)
    with pytest.raises(UnknownPortError):
        store.release(105, A)
    change = store.release(100, A)
    assert change.entry == PortEntry(100, "svc", "alice")
    assert change.events == (PortEvent("removed", 100, "svc", "alice"),)
    assert len(store) == 0


def test_end_lease_removes_all_its_entries_and_only_them() -> None:
    store = PortStore([(100, 109)])
    store.allocate("a", "alice", A)
    store.register("b", 5000, "alice", A)
    store.allocate("c", "bob", B)
    store.allocate("d", "bob", P)
    change = store.end_lease(A)
    assert [e.kind for e in change.events] == ["removed", "removed"]
    assert {e.port for e in change.events} == {100, 5000}
    assert [e.service for e in store.entries()] == ["c", "d"]
    assert store.end_lease(A).events == ()  # idempotent
    assert set(store.leases()) == {B, P}
    assert len(store.clear().events) == 2
    assert store.leases() == []


def test_query_and_entries_sorted() -> None:
    store = PortStore([(100, 109)])
    store.register("mount_csc", 5002, "alice", A)
    store.register("mount_eui", 5001, "bob", B)
    store.register("other", 5000, "alice", A)
    assert [e.port for e in store.entries()] == [5000, 5001, 5002]
    assert store.entries(Query(service="mount_csc")) == [PortEntry(5002, "mount_csc", "alice")]
    assert [e.port for e in store.entries(Query(beginswith="mount"))] == [5001, 5002]
    assert [e.port for e in store.entries(Query(beginswith="mount", user="bob"))] == [5001]
    assert store.entries(Query(service="mount", beginswith="mount")) == []


def test_ephemeral_mode_uses_os_choice_and_skips_held_ports() -> None:
    offers = iter([7000, 7000, 7001])
    store = PortStore(None, pick_ephemeral=lambda: next(offers))
    assert store.pool is None
    assert store.allocate("a", "alice", A).entry.port == 7000
    assert store.allocate("b", "alice", A).entry.port == 7001


def test_ephemeral_mode_failures() -> None:
    store = PortStore(None, pick_ephemeral=lambda: 7000)
    store.allocate("a", "alice", A)
    with pytest.raises(PoolExhaustedError, match="already holds"):
        store.allocate("b", "alice", A)

    def broken() -> int:
        raise OSError("no ports")

    with pytest.raises(PoolExhaustedError, match="no ports"):
        PortStore(None, pick_ephemeral=broken).allocate("a", "alice", A)
    with pytest.raises(ValueError, match="pick_ephemeral"):
        PortStore(None)


@pytest.mark.parametrize(
    "name",
    ["mount_csc", "a", "x" * 128, "a.b-c:d@e+f=g,h%i/j", "pid.1234", "Spec#Tcl", "a{b}", "é", 'q"'],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "x" * 129, "tab\t", "nl\n", " a", "\x7f", 5, None])
def test_invalid_names(name: object) -> None:
    with pytest.raises(RegistryRequestError):
        validate_name(name)


def test_pool_parsing() -> None:
    assert parse_pool("30001-30999") == ((30001, 30999),)
    assert parse_pool("5-9, 1-3,4 ,20") == ((1, 9), (20, 20))
    assert parse_pool("ephemeral") is None
    assert format_pool(parse_pool("1-3,7-8")) == "1-3,7-8"
    assert format_pool(None) == "ephemeral"
    for bad in ("", "a-b", "5-1", "0-10", "1-70000", "1-2-3"):
        with pytest.raises(ValueError, match="range"):
            parse_pool(bad)
    assert normalize_pool([(10, 20), (15, 30), (31, 31)]) == ((10, 31),)


@given(
    st.lists(st.tuples(st.integers(1, 300), st.integers(0, 20)), min_size=1, max_size=5),
    st.lists(st.sampled_from(["alloc", "release", "end"]), max_size=60),
)
def test_store_invariants(ranges: list[tuple[int, int]], ops: list[str]) -> None:
    pool = [(lo, lo + width) for lo, width in ranges]
    store = PortStore(pool)
    leases = [Lease("connection", i) for i in range(3)]
    in_pool = {p for lo, hi in normalize_pool(pool) for p in range(lo, hi + 1)}
    for i, op in enumerate(ops):
        lease = leases[i % 3]
        if op == "alloc":
            try:
                entry = store.allocate("svc", "u", lease).entry
            except PoolExhaustedError:
                assert len(store) == len(in_pool)
            else:
                assert entry is not None and entry.port in in_pool
        elif op == "release":
            mine = [e.port for e in store.entries() if store.lease_of(e.port) == lease]
            if mine:
                store.release(mine[0], lease)
        else:
            store.end_lease(lease)
        names = [e.service for e in store.entries()]
        assert len(names) == len(set(names))  # one user: names stay unique


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "end"]),
            st.sampled_from(["svc", "svc_1", "svc_2", "svc_1_1", "other"]),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
def test_names_worked_out_at_each_look_stay_unique_and_follow_port_order(
    ops: list[tuple[str, str, int]],
) -> None:
    store = PortStore([(100, 199)])
    leases = [Lease("connection", i) for i in range(4)]
    shown: dict[int, str] = {}  # what a watcher of everything believes
    for op, name, which in ops:
        if op == "add":
            change = store.allocate(name, "u", leases[which])
        else:
            change = store.end_lease(leases[which])
        for event in change.events:
            if event.kind == "added":
                shown[event.port] = event.service
            else:
                assert shown.pop(event.port) == event.service
        entries = store.entries()
        # the events tell the whole truth
        assert shown == {e.port: e.service for e in entries}
        names = [e.service for e in entries]
        assert len(names) == len(set(names))
    # the lowest port of each requested name has the plain name
    for name in ("svc", "svc_1", "svc_2", "svc_1_1", "other"):
        ports = sorted(p for p, base in store._base.items() if base == name)
        if ports:
            assert store.get(ports[0]).service == name  # type: ignore[union-attr]
