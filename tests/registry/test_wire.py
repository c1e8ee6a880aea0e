"""Line codecs of the three dialects: pure."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.exceptions import ProtocolError
from mountcomm.registry import native, nscl, wire
from mountcomm.registry.entries import PortEntry
from mountcomm.registry.native import Allocate, ListPorts
from mountcomm.registry.wire import BadRequest, Dialect, PidRequest

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
    # the names the daemon would refuse are refused before they are sent
    for service, user in [("a\x07", "alice"), ("s", "u" * 200)]:
        with pytest.raises(ValueError, match="name"):
            nscl.gimme(service, user)
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
    for parse in (native.parse_request, nscl.parse_request, wire.parse_pid):
        result = parse(line)
        assert isinstance(result, (BadRequest, PidRequest, *native.REQUESTS.values()))
    assert isinstance(wire.detect_dialect(line), Dialect)


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.sampled_from(list(native.REQUESTS)),
    st.lists(st.integers(), max_size=2),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["op", "id", "service", "port", "user", "beginswith", "watch", "trusted_users", "x"]
        ),
        _json_values,
    )
)
def test_any_json_object_parses_to_a_request_or_a_bad_request(obj: dict[str, object]) -> None:
    result = native.parse_request(json.dumps(obj).encode())
    if isinstance(result, BadRequest):
        assert result.message
    else:
        assert type(result) is native.REQUESTS[obj["op"]]
