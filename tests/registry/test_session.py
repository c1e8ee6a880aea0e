"""One connection's protocol, pure: bytes in, replies and changes out (no loop, no socket)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.registry.entries import Lease, PortEntry, PortEvent
from mountcomm.registry.peer import Credentials
from mountcomm.registry.session import Session, default_check_pid
from mountcomm.registry.store import PortStore
from mountcomm.registry.wire import Dialect

ALICE = Credentials(1000, "alice", 55)


def make(
    store: PortStore | None = None,
    *,
    ident: int = 1,
    local: bool = True,
    creds: Credentials = ALICE,
    check_pid: Callable[[int, Credentials], str | None] = default_check_pid,
    max_line_bytes: int = 200,
) -> Session:
    return Session(
        store if store is not None else PortStore([(100, 104)]),
        Lease("connection", ident),
        local=local,
        credentials=lambda: creds,
        check_pid=check_pid,
        daemon_uid=1000,
        max_line_bytes=max_line_bytes,
        version="test",
    )


def native(session: Session, **request: Any) -> dict[str, Any]:
    out = session.feed(json.dumps(request).encode() + b"\n")
    lines = bytes(out.data).splitlines()
    assert len(lines) >= 1
    return json.loads(lines[0])


# ---- native -----------------------------------------------------------------------


def test_native_allocate_register_release_list_find() -> None:
    session = make()
    assert native(session, op="allocate", id=1, service="a") == {
        "id": 1,
        "ok": True,
        "port": 100,
        "service": "a",
        "user": "alice",
    }
    assert session.dialect is Dialect.NATIVE
    assert native(session, op="register", id=2, service="a", port=5000)["service"] == "a_1"
    assert native(session, op="list", id=3)["entries"] == [
        {"port": 100, "service": "a", "user": "alice"},
        {"port": 5000, "service": "a_1", "user": "alice"},
    ]
    assert native(session, op="find", id=4, service="a_1")["entries"] == [
        {"port": 5000, "service": "a_1", "user": "alice"}
    ]
    assert native(session, op="release", id=5, port=100)["port"] == 100
    assert native(session, op="release", id=6, port=100)["error"] == "unknown_port"


def test_native_ping_reports_credentials() -> None:
    reply = native(make(), op="ping", id="p")
    assert reply == {
        "id": "p",
        "ok": True,
        "version": "test",
        "local": True,
        "user": "alice",
        "uid": 1000,
    }


def test_events_are_returned_for_other_sessions() -> None:
    session = make()
    out = session.feed(b'{"op": "allocate", "id": 1, "service": "a"}\n')
    assert out.events == [PortEvent("added", 100, "a", "alice")]
    assert not out.close and not out.terminate


def test_several_requests_in_one_chunk_answer_in_order() -> None:
    session = make()
    data = b"".join(
        json.dumps({"op": "allocate", "id": i, "service": "s"}).encode() + b"\n" for i in range(3)
    )
    replies = [json.loads(line) for line in bytes(session.feed(data).data).splitlines()]
    assert [(r["id"], r["service"]) for r in replies] == [(0, "s"), (1, "s_1"), (2, "s_2")]


def test_own_watch_sees_only_later_changes_right_after_their_reply() -> None:
    session = make()
    data = (
        b'{"op": "allocate", "id": 1, "service": "a"}\n'
        b'{"op": "watch", "id": 2}\n'
        b'{"op": "allocate", "id": 3, "service": "b"}\n'
    )
    lines = [json.loads(line) for line in bytes(session.feed(data).data).splitlines()]
    assert [line.get("id", line.get("watch")) for line in lines] == [1, 2, 3, 2]
    assert lines[1]["entries"] == [{"port": 100, "service": "a", "user": "alice"}]
    assert lines[3] == {
        "watch": 2,
        "event": "added",
        "port": 101,
        "service": "b",
        "user": "alice",
    }


def test_push_filters_by_each_watch_query() -> None:
    session = make()
    native(session, op="watch", id="all")
    native(session, op="watch", id="b", beginswith="b")
    events = [PortEvent("added", 7, "apple", "u"), PortEvent("removed", 8, "banana", "u")]
    lines = [json.loads(line) for line in session.push(events).splitlines()]
    assert [(line["watch"], line["port"]) for line in lines] == [("all", 7), ("all", 8), ("b", 8)]
    assert native(session, op="unwatch", id=9, watch="all") == {"id": 9, "ok": True}
    assert len(session.push(events).splitlines()) == 1
    assert native(session, op="unwatch", id=10, watch="all")["error"] == "bad_request"


def test_watch_needs_a_fresh_id() -> None:
    session = make()
    assert native(session, op="watch")["error"] == "bad_request"
    native(session, op="watch", id=1)
    assert native(session, op="watch", id=1)["error"] == "bad_request"


def test_bad_native_requests_get_errors_and_keep_the_connection() -> None:
    session = make()
    out = session.feed(b'{"op": "allocate", "id": 1}\n{broken\n{"op": "ping", "id": 2}\n')
    replies = [json.loads(line) for line in bytes(out.data).splitlines()]
    assert [(r["id"], r["ok"]) for r in replies] == [(1, False), (None, False), (2, True)]
    assert replies[0]["error"] == "bad_request"
    assert not out.close


def test_native_refusals_name_the_reason() -> None:
    session = make(store=PortStore([(100, 100)]))
    native(session, op="allocate", id=1, service="a")
    reply = native(session, op="allocate", id=2, service="b")
    assert reply["error"] == "pool_exhausted" and "100-100" in reply["message"]
    assert native(session, op="allocate", id=3, service="bad name")["error"] == "bad_request"


def test_release_of_another_connections_port_is_refused() -> None:
    store = PortStore([(100, 104)])
    owner, other = make(store, ident=1), make(store, ident=2)
    native(owner, op="allocate", id=1, service="a")
    reply = native(other, op="release", id=1, port=100)
    assert reply["error"] == "permission_denied"
    assert "only its own ports" in reply["message"]
    assert store.get(100) is not None


def test_close_ends_the_connection_lease() -> None:
    store = PortStore([(100, 104)])
    session = make(store)
    native(session, op="allocate", id=1, service="a")
    change = session.close()
    assert change.events == (PortEvent("removed", 100, "a", "alice"),)
    assert len(store) == 0
    assert session.close().events == ()  # idempotent
    assert session.feed(b'{"op": "ping"}\n').data == bytearray()  # closed: ignored


def test_a_differing_claimed_user_is_recorded_never_refused() -> None:
    store = PortStore([(100, 104)])
    session = make(store)
    reply = native(session, op="allocate", id=1, service="a", user="mallory")
    # the owner is the verified user; the claim shows only in the native dialect
    assert reply == {
        "id": 1,
        "ok": True,
        "port": 100,
        "service": "a",
        "user": "alice",
        "claimed_user": "mallory",
    }
    assert store.get(100) is not None and store.get(100).uid == 1000  # type: ignore[union-attr]
    assert native(session, op="list", id=2)["entries"][0]["claimed_user"] == "mallory"
    assert "claimed_user" not in native(session, op="allocate", id=3, service="b", user="alice")
    out = make(store, ident=2).feed(b"GIMME n mallory\nLIST\n")
    assert b"mallory" not in bytes(out.data)
    assert bytes(out.data).startswith(b"OK 102\r\nOK 3\r\n")


def test_without_credentials_the_claim_or_unknown_is_used() -> None:
    store = PortStore([(100, 104)])
    session = make(store, creds=Credentials())
    assert native(session, op="allocate", id=1, service="a", user="bob")["user"] == "bob"
    assert native(session, op="allocate", id=2, service="a")["user"] == "unknown"


def test_a_peer_gone_before_it_was_identified_may_only_look() -> None:
    session = make(creds=Credentials(gone=True))
    for request in (
        {"op": "allocate", "service": "a"},
        {"op": "allocate", "service": "a", "user": "root"},
        {"op": "register", "service": "a", "port": 5000},
        {"op": "terminate"},
    ):
        reply = native(session, id=1, **request)
        assert reply["error"] == "permission_denied" and "closed before" in reply["message"]
    assert native(session, op="ping", id=2)["user"] is None
    assert native(session, op="list", id=3)["ok"]
    out = make(creds=Credentials(gone=True)).feed(b"GIMME a root\n")
    assert out.data.startswith(b"FAIL {cannot tell the client's user") and not out.events
    out = make(creds=Credentials(gone=True)).feed(b"4242\n")
    assert out.data == b"" and out.close and not out.events and not out.watch_pids


def test_remote_clients_may_only_look() -> None:
    session = make(local=False, creds=Credentials())
    for request in (
        {"op": "allocate", "service": "a"},
        {"op": "register", "service": "a", "port": 5000},
        {"op": "release", "port": 100},
        {"op": "terminate"},
    ):
        reply = native(session, id=1, **request)
        assert reply["error"] == "permission_denied"
        assert "only clients on the registry's host" in reply["message"]
    assert native(session, op="list", id=2)["ok"]
    assert native(session, op="find", id=3, user="x")["ok"]


def test_terminate_only_by_the_daemons_user_or_root() -> None:
    out = make().feed(b'{"op": "terminate", "id": 1}\n')
    assert out.terminate and json.loads(out.data)["ok"]
    assert make(creds=Credentials(0, "root")).feed(b'{"op": "terminate"}\n').terminate
    stranger = make(creds=Credentials(2000, "bob"))
    out = stranger.feed(b'{"op": "terminate", "id": 1}\n')
    assert not out.terminate
    assert json.loads(out.data)["error"] == "permission_denied"


# ---- NSCL -------------------------------------------------------------------------


def test_nscl_gimme_and_list() -> None:
    store = PortStore([(100, 104)])
    session = make(store)
    out = session.feed(b"GIMME svc alice\nGIMME svc alice\nLIST\n")
    assert bytes(out.data) == (b"OK 100\r\nOK 101\r\nOK 2\r\n100 svc alice\r\n101 svc_1 alice\r\n")
    assert session.dialect is Dialect.NSCL
    assert [e.kind for e in out.events] == ["added", "added"]
    assert not out.close


def test_nscl_pool_exhausted_keeps_the_connection_and_its_ports() -> None:
    store = PortStore([(100, 100)])
    session = make(store)
    out = session.feed(b"GIMME a alice\nGIMME b alice\nLIST\n")
    assert bytes(out.data) == (
        b"OK 100\r\nFAIL {no free ports in pool 100-100: 1 held through the registry, "
        b"0 in use by other programs}\r\nOK 1\r\n100 a alice\r\n"
    )
    assert not out.close and not session.closed
    store.end_lease(Lease("connection", 99))
    assert store.get(100) == PortEntry(100, "a", "alice")  # still held
    assert session.close().events == (PortEvent("removed", 100, "a", "alice"),)


def test_nscl_full_pool_fail_starts_with_nscls_words() -> None:
    """NSCL's C++ client recognises a full pool by the words "no free ports"."""
    fixed = PortStore([(100, 100)])
    fixed.allocate("a", "bob", Lease("connection", 9))

    def broken() -> int:
        raise OSError("nothing left")

    held = PortStore(None, pick_ephemeral=lambda: 7000)
    held.allocate("a", "bob", Lease("connection", 9))
    for store, detail in [
        (fixed, b"in pool 100-100: 1 held through the registry"),
        (PortStore(None, pick_ephemeral=broken), b"the OS offered none (nothing left)"),
        (held, b"the OS offered only ports the registry already holds"),
    ]:
        out = make(store).feed(b"GIMME b alice\n")
        assert out.data.startswith(b"FAIL {no free ports")
        assert detail in out.data and out.data.endswith(b"}\r\n") and not out.close


def test_nscl_refusals() -> None:
    for creds, local, line, reason in [
        (Credentials(), False, b"GIMME a alice\n", b"only clients on the registry's host"),
        (ALICE, True, b"HELLO\n", b"unknown request"),
        (ALICE, True, b"\n", b"empty request"),
    ]:
        out = make(creds=creds, local=local).feed(line)
        assert out.data.startswith(b"FAIL {") and reason in out.data
        assert out.data.endswith(b"\r\n") and not out.close


def test_nscl_list_is_ordered_by_user_then_name_and_names_are_tokens() -> None:
    store = PortStore([(100, 104)])
    store.register("zeta", 5000, "bob", Lease("connection", 9))
    store.register("Spec#Tcl", 5001, "carol", Lease("connection", 9))
    session = make(store)
    out = session.feed(b"GIMME Spec#Tcl alice\nGIMME alpha alice\nLIST\n")
    assert bytes(out.data) == (
        b"OK 100\r\nOK 101\r\nOK 4\r\n100 Spec#Tcl alice\r\n101 alpha alice\r\n"
        b"5000 zeta bob\r\n5001 Spec#Tcl carol\r\n"
    )


def test_nscl_list_allowed_for_remote_clients() -> None:
    store = PortStore([(100, 104)])
    store.register("x", 5000, "bob", Lease("connection", 9))
    out = make(store, local=False, creds=Credentials()).feed(b"LIST\r\n")
    assert bytes(out.data) == b"OK 1\r\n5000 x bob\r\n"


# ---- portpicker -------------------------------------------------------------------


def test_pid_request_allocates_under_a_pid_lease() -> None:
    store = PortStore([(100, 104)])
    session = make(store)
    out = session.feed(b"4242\n")
    assert bytes(out.data) == b"100\n"
    assert out.close and out.watch_pids == [4242]
    assert store.get(100) == PortEntry(100, "portpicker.4242", "alice")
    assert store.lease_of(100) == Lease("pid", 4242)
    # the connection closing does not release it: the pid's death does
    assert session.close().events == ()
    assert len(store.end_lease(Lease("pid", 4242)).events) == 1


def test_pid_request_refusals_get_no_answer() -> None:
    def refuse(pid: int, creds: Credentials) -> str | None:
        return "dead" if pid == 99 else None

    store = PortStore([(100, 100)])
    for line, kwargs in [
        (b"1\n", {}),
        (b"0\n", {}),
        (b"-7\n", {}),
        (b"99\n", {"check_pid": refuse}),
        (b"50\n", {"local": False, "creds": Credentials()}),
    ]:
        out = make(store, **kwargs).feed(line)
        # closed without an answer, as portserver does: never "0"
        assert bytes(out.data) == b"" and out.close and out.watch_pids == []
    assert make(store).feed(b"50\n").data == b"100\n"
    out = make(store).feed(b"51\n")  # pool exhausted
    assert out.data == b"" and out.close


def unix_session(store: PortStore) -> Session:
    """A connection through the daemon's Unix socket (where portserver.py listens)."""
    return Session(
        store, Lease("connection", 1), local=True, credentials=lambda: ALICE, unix_socket=True
    )


@pytest.mark.parametrize("request_bytes", [b"4242", b"4242\n", b" 4242 \r\n", b"+4242"])
def test_unix_socket_first_chunk_is_a_whole_pid_request_newline_or_not(
    request_bytes: bytes,
) -> None:
    """As portserver.py: it reads once (up to 100 bytes) and answers what it read."""
    store = PortStore([(100, 104)])
    session = unix_session(store)
    out = session.feed(request_bytes)
    assert bytes(out.data) == b"100\n"
    assert out.close and out.watch_pids == [4242] and session.closed
    assert session.dialect is Dialect.PORTPICKER
    assert store.lease_of(100) == Lease("pid", 4242)
    assert session.feed(b"4243\n").data == b""  # nothing after the one request


@pytest.mark.parametrize(
    "request_bytes",
    [b"abc\n", b"12x", b"GIMME svc alice\n", b"LIST\n", b"\n", b"1" * 21, b"4242\n4243\n"],
)
def test_unix_socket_malformed_portserver_request_is_closed_without_a_byte(
    request_bytes: bytes,
) -> None:
    store = PortStore([(100, 104)])
    out = unix_session(store).feed(request_bytes)
    assert bytes(out.data) == b"" and out.close and out.watch_pids == []
    assert store.entries() == []


def test_unix_socket_reads_only_the_first_chunk_as_portserver_does() -> None:
    """A pid cut in two arrives as two chunks: portserver.py answers the first part."""
    session = unix_session(PortStore([(100, 104)]))
    out = session.feed(b"42")
    assert bytes(out.data) == b"100\n" and out.watch_pids == [42]


def test_unix_socket_native_requests_are_lines_as_over_tcp() -> None:
    session = unix_session(PortStore([(100, 104)]))
    out = session.feed(b'{"op": "allocate", ')  # a native line in pieces
    assert out.data == b"" and not out.close
    out = session.feed(b'"id": 1, "service": "svc"}\n{"op": "list", "id": 2}\n')
    first, second = (json.loads(line) for line in bytes(out.data).splitlines())
    assert first["ok"] and first["port"] == 100
    assert [e["port"] for e in second["entries"]] == [100]
    assert session.dialect is Dialect.NATIVE and not out.close


def test_over_tcp_a_malformed_first_line_is_still_nscl() -> None:
    out = make().feed(b"abc\n")
    assert out.data.startswith(b"FAIL {unknown request") and not out.close


# ---- limits and garbage ---------------------------------------------------------------


def test_too_long_line_is_answered_in_the_dialect_and_closes() -> None:
    long = b"x" * 300
    out = make().feed(b'{"op":"ping","pad":"' + long + b'"}\n')
    assert json.loads(out.data)["error"] == "bad_request" and out.close
    out = make().feed(b"GIMME " + long)
    assert out.data.startswith(b"FAIL {request line longer than 200 bytes}") and out.close
    out = make().feed(b"1" * 300)
    assert out.data == b"" and out.close
    session = make()
    session.feed(b'{"op": "ping", "id": 1}\n')
    out = session.feed(long)  # dialect already chosen: native error
    assert json.loads(out.data)["error"] == "bad_request" and out.close


@given(st.lists(st.binary(max_size=120), max_size=12), st.booleans())
def test_any_byte_stream_gets_replies_never_an_exception(chunks: list[bytes], local: bool) -> None:
    store = PortStore([(100, 102)])
    session = make(store, local=local, max_line_bytes=64)
    for chunk in chunks:
        out = session.feed(chunk)
        assert isinstance(out.data, bytearray)
        assert session.closed or not out.close
    session.close()
    # whatever happened, only pid leases (portpicker) outlive the connection
    assert all(store.lease_of(e.port).kind == "pid" for e in store.entries())


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=8))
def test_every_complete_nscl_or_native_line_gets_a_reply(lines: list[bytes]) -> None:
    session = make(PortStore([(100, 200)]), max_line_bytes=64)
    first = b'{"op": "ping", "id": 0}'
    out = session.feed(b"\n".join([first, *lines]) + b"\n")
    assert len(bytes(out.data).splitlines()) == 1 + len(lines)


# ---- trust and watch limits -------------------------------------------------------------


def _users(name: str) -> int | None:
    return {"alice": 1000, "bob": 2000, "root": 0, "nobody": 65534}.get(name)


def test_trusted_watch_sees_only_own_root_and_named_owners() -> None:
    from mountcomm.registry.watchindex import WatchIndex

    store, index = PortStore([(100, 104)]), WatchIndex()

    def session(ident: int, creds: Credentials) -> Session:
        return Session(
            store,
            Lease("connection", ident),
            local=True,
            credentials=lambda: creds,
            index=index,
            resolve_user=_users,
        )

    nobody = session(1, Credentials(65534, "nobody"))
    native(nobody, op="register", id=1, service="svc", port=4000)  # lower port, untrusted
    watcher = session(2, ALICE)
    reply = native(watcher, op="watch", id=7, service="svc", trusted_users=[])
    assert reply["entries"] == []  # nobody's entry is never chosen
    root = session(3, Credentials(0, "root"))
    out = root.feed(b'{"op": "register", "id": 1, "service": "svc", "port": 5000}\n')
    routed = index.route(out.events)
    assert routed[watcher] == [(7, PortEvent("added", 5000, "svc", "root"))]
    # naming a user trusts it; an unknown name is a clear error
    reply = native(watcher, op="watch", id=8, service="svc", trusted_users=["nobody"])
    assert [e["port"] for e in reply["entries"]] == [4000, 5000]
    reply = native(watcher, op="watch", id=9, service="svc", trusted_users=["ghost"])
    assert reply["error"] == "bad_request" and "ghost" in reply["message"]
    # without trusted_users: every owner (plain look-ups)
    reply = native(watcher, op="watch", id=10, service="svc")
    assert len(reply["entries"]) == 2
    watcher.close()
    assert watcher not in index.route(out.events)


def test_watches_per_connection_are_limited() -> None:
    session = Session(
        PortStore([(100, 104)]),
        Lease("connection", 1),
        local=True,
        credentials=lambda: ALICE,
        max_watches=3,
    )
    for i in range(3):
        assert native(session, op="watch", id=i, service=f"s{i}")["ok"]
    reply = native(session, op="watch", id=9, service="x")
    assert reply["error"] == "bad_request" and "3 watches, the limit" in reply["message"]
    assert native(session, op="unwatch", id=10, watch=0)["ok"]
    assert native(session, op="watch", id=9, service="x")["ok"]


def test_watch_index_visits_only_the_events_service_and_general_watches() -> None:
    from mountcomm.registry.entries import Query
    from mountcomm.registry.watchindex import WatchIndex

    class Counting(Query):
        visits = 0

        def matches(self, entry: Any) -> bool:
            Counting.visits += 1
            return super().matches(entry)

    index = WatchIndex()
    for i in range(1000):
        index.add("owner", i, Counting(service=f"svc{i}"))
    index.add("other", 0, Counting(beginswith="svc"))
    assert len(index) == 1001
    routed = index.route([PortEvent("added", 1, "svc5", "u")])
    assert routed == {
        "owner": [(5, PortEvent("added", 1, "svc5", "u"))],
        "other": [(0, PortEvent("added", 1, "svc5", "u"))],
    }
    assert Counting.visits == 2  # not 1001
    index.remove("owner", 5, Query(service="svc5"))
    assert "owner" not in index.route([PortEvent("added", 1, "svc5", "u")])


# ---- a failure of ours stays with its line -----------------------------------------


def test_an_unexpected_error_answers_that_line_and_the_connection_goes_on(
    monkeypatch: Any,
) -> None:
    def broken(self: Session, dialect: Any, line: bytes, out: Any) -> None:
        raise ZeroDivisionError("a bug")

    native_session, nscl_session, pid_session = make(ident=1), make(ident=2), make(ident=3)
    monkeypatch.setattr(Session, "_answer", broken)
    answer = native(native_session, op="ping", id=1)
    assert (answer["ok"], answer["error"]) == (False, "internal_error")
    assert not native_session.closed
    out = nscl_session.feed(b"LIST\n")
    assert bytes(out.data).startswith(b"FAIL {internal error") and not out.close
    out = pid_session.feed(b"12345\n")
    assert out.data == b"" and out.close  # portpicker: closed unanswered
    monkeypatch.undo()
    assert native(native_session, op="ping", id=2)["ok"] is True  # the next line is served
    assert bytes(nscl_session.feed(b"LIST\n").data).startswith(b"OK")
