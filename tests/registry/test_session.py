"""One connection's protocol, pure: bytes in, replies and changes out (no loop, no socket)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mountcomm.registry.peer import Credentials
from mountcomm.registry.session import Session, default_check_pid
from mountcomm.registry.store import Lease, PortEntry, PortEvent, PortStore
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
        info={"version": "test"},
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


def test_claimed_user_must_match_credentials() -> None:
    session = make()
    reply = native(session, op="allocate", id=1, service="a", user="mallory")
    assert reply["error"] == "permission_denied"
    assert "'mallory' contradicts" in reply["message"]
    assert native(session, op="allocate", id=2, service="a", user="alice")["ok"]


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
    assert out.data == b"0\n" and not out.events and not out.watch_pids


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
    assert bytes(out.data) == b"OK 100\nOK 101\nOK 2\n100 svc alice\n101 svc_1 alice\n"
    assert session.dialect is Dialect.NSCL
    assert [e.kind for e in out.events] == ["added", "added"]
    assert not out.close


def test_nscl_fail_ends_the_connection() -> None:
    store = PortStore([(100, 100)])
    session = make(store)
    out = session.feed(b"GIMME a alice\nGIMME b alice\nLIST\n")
    assert bytes(out.data).startswith(b"OK 100\nFAIL {no free port in pool 100-100")
    assert out.close and session.closed
    assert session.close().events == (PortEvent("removed", 100, "a", "alice"),)


def test_nscl_refusals() -> None:
    for creds, local, line, reason in [
        (ALICE, True, b"GIMME a mallory\n", b"contradicts"),
        (Credentials(), False, b"GIMME a alice\n", b"only clients on the registry's host"),
        (ALICE, True, b"HELLO\n", b"unknown request"),
        (ALICE, True, b"\n", b"empty request"),
    ]:
        out = make(creds=creds, local=local).feed(line)
        assert out.data.startswith(b"FAIL {") and reason in out.data
        assert out.close


def test_nscl_list_allowed_for_remote_clients() -> None:
    store = PortStore([(100, 104)])
    store.register("x", 5000, "bob", Lease("connection", 9))
    out = make(store, local=False, creds=Credentials()).feed(b"LIST\r\n")
    assert bytes(out.data) == b"OK 1\n5000 x bob\n"


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


def test_pid_request_refusals_answer_zero() -> None:
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
        assert bytes(out.data) == b"0\n" and out.close and out.watch_pids == []
    assert make(store).feed(b"50\n").data == b"100\n"
    assert make(store).feed(b"51\n").data == b"0\n"  # pool exhausted


# ---- limits and garbage ---------------------------------------------------------------


def test_too_long_line_is_answered_in_the_dialect_and_closes() -> None:
    long = b"x" * 300
    out = make().feed(b'{"op":"ping","pad":"' + long + b'"}\n')
    assert json.loads(out.data)["error"] == "bad_request" and out.close
    out = make().feed(b"GIMME " + long)
    assert out.data.startswith(b"FAIL {request line longer than 200 bytes}") and out.close
    out = make().feed(b"1" * 300)
    assert out.data == b"0\n" and out.close
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
