"""Line codecs of the three dialects: pure."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.exceptions import ProtocolError
from mountcomm.registry import nscl, wire
from mountcomm.registry.entries import PortEntry, PortEvent, Query
from mountcomm.registry.wire import (
    Allocate,
    BadRequest,
    Dialect,
    Find,
    ListPorts,
    PidRequest,
    Ping,
    Register,
    Release,
    Terminate,
    Unwatch,
    Watch,
)

# ---- dialect detection ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "dialect"),
    [
        (b'{"op": "ping"}', Dialect.NATIVE),
        (b"  {", Dialect.NATIVE),
        (b"1234", Dialect.PORTPICKER),
        (b" -5 ", Dialect.PORTPICKER),
        (b"GIMME a b", Dialect.NSCL),
        (b"LIST", Dialect.NSCL),
        (b"", Dialect.NSCL),
        (b"\xff\xfe", Dialect.NSCL),
        (b"12a", Dialect.NSCL),
    ],
)
def test_detect_dialect(line: bytes, dialect: Dialect) -> None:
    assert wire.detect_dialect(line) is dialect


# ---- native -----------------------------------------------------------------------


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
    ],
)
def test_parse_native_ops(obj: dict[str, object], expected: object) -> None:
    assert wire.parse_native(json.dumps(obj).encode()) == expected


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
    result = wire.parse_native(line)
    assert isinstance(result, BadRequest)
    assert message in result.message
    assert result.id == rid


def test_native_formatters_round_trip() -> None:
    request = json.loads(wire.native_request("find", 3, service="s", user=None))
    assert request == {"op": "find", "id": 3, "service": "s"}
    assert json.loads(wire.native_ok(1, port=5)) == {"id": 1, "ok": True, "port": 5}
    error = wire.parse_native_message(wire.native_error(2, "pool_exhausted", "full"))
    assert error == {"id": 2, "ok": False, "error": "pool_exhausted", "message": "full"}
    event = PortEvent("removed", 5, "s", "u")
    line = wire.native_event(9, event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    message = wire.parse_native_message(line)
    assert message["watch"] == 9
    assert wire.event_from_wire(message) == event


def test_client_side_parsers_refuse_garbage() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        wire.parse_native_message(b"nope\n")
    with pytest.raises(ProtocolError, match="not an object"):
        wire.parse_native_message(b"[]\n")
    with pytest.raises(ProtocolError, match="port, service and user"):
        wire.entry_from_wire({"port": 1})
    with pytest.raises(ProtocolError, match="integer"):
        wire.entry_from_wire({"port": "1", "service": "s", "user": "u"})
    with pytest.raises(ProtocolError, match="strings"):
        wire.entry_from_wire({"port": 1, "service": 2, "user": "u"})
    with pytest.raises(ProtocolError, match="event"):
        wire.event_from_wire({"event": "moved", "port": 1, "service": "s", "user": "u"})


# ---- NSCL -----------------------------------------------------------------------


def test_parse_nscl() -> None:
    assert nscl.parse_request(b"GIMME svc alice") == Allocate("svc", "alice")
    assert nscl.parse_request(b"gimme  svc\talice ") == Allocate("svc", "alice")
    assert nscl.parse_request(b"LIST") == ListPorts()
    for line, message in [
        (b"", "empty request"),
        (b"GIMME svc", "GIMME takes a service and a user, got 1"),
        (b"GIMME a b c", "got 3"),
        (b"LIST all", "LIST takes no arguments"),
        (b"HELLO", "unknown request 'HELLO'; expected GIMME"),
        (b"\xff", "not valid UTF-8"),
    ]:
        result = nscl.parse_request(line)
        assert isinstance(result, BadRequest) and message in result.message


def test_nscl_formatters() -> None:
    assert nscl.gimme("svc", "alice") == b"GIMME svc alice\n"
    for bad in ("", "a b", " a"):
        with pytest.raises(ValueError, match="one word"):
            nscl.gimme(bad, "alice")
    assert nscl.ok(30001) == b"OK 30001\r\n"
    assert nscl.fail("full") == b"FAIL full\r\n"
    # a reason with spaces is one Tcl list element, as NSCL's Tcl-parsing bindings expect
    assert nscl.fail("no free\nport {x}") == b"FAIL {no free port (x)}\r\n"
    assert nscl.fail("") == b"FAIL {}\r\n"
    entries = [PortEntry(5, "a", "u"), PortEntry(6, "b_1", "v")]
    assert nscl.list_reply(entries) == b"OK 2\r\n5 a u\r\n6 b_1 v\r\n"
    assert nscl.list_reply([]) == b"OK 0\r\n"


def test_nscl_client_side_parsers() -> None:
    assert nscl.parse_reply(b"OK 30001\n") == (True, "30001")
    assert nscl.parse_reply(b"FAIL {no free port}\n") == (False, "no free port")
    assert nscl.parse_reply(b"FAIL full\r\n") == (False, "full")
    for bad in (b"OK\n", b"MAYBE 1\n", b"\n"):
        with pytest.raises(ProtocolError):
            nscl.parse_reply(bad)
    assert nscl.parse_entry(b"5 a u\n") == PortEntry(5, "a", "u")
    for bad in (b"5 a\n", b"x a u\n"):
        with pytest.raises(ProtocolError):
            nscl.parse_entry(bad)


# ---- portpicker -------------------------------------------------------------------


def test_pid_lines() -> None:
    assert wire.parse_pid(b"1234") == PidRequest(1234)
    assert wire.parse_pid(b" 77 ") == PidRequest(77)
    assert wire.parse_pid(b"-1") == PidRequest(-1)
    for bad in (b"", b"12x", b"1" * 21, b"1_000"):
        assert isinstance(wire.parse_pid(bad), BadRequest)
    assert wire.pid_reply(30001) == b"30001\n"
    assert wire.pid_reply(0) == b"0\n"


# ---- any bytes: a request or a clean error -------------------------------------------------


@given(st.binary(max_size=300))
def test_any_bytes_parse_to_a_request_or_a_bad_request(line: bytes) -> None:
    for parse in (wire.parse_native, nscl.parse_request, wire.parse_pid):
        result = parse(line)
        assert isinstance(result, (BadRequest, *wire.Request.__args__))
    assert isinstance(wire.detect_dialect(line), Dialect)


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.sampled_from(list(wire.NATIVE_OPS)),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.dictionaries(
        st.sampled_from(["op", "id", "service", "port", "user", "beginswith", "watch", "x"]),
        _json_values,
    )
)
def test_any_json_object_parses_to_a_request_or_a_bad_request(obj: dict[str, object]) -> None:
    result = wire.parse_native(json.dumps(obj).encode())
    if isinstance(result, BadRequest):
        assert result.message
    else:
        assert type(result) is wire.NATIVE_OPS[obj["op"]][0]
