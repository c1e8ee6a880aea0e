"""The sans-I/O HTTP/1.1 response reader and request encoder (no loop, no socket)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mountcomm.registry.cluster.http import (
    MAX_HEAD,
    MAX_HEADERS,
    MAX_LINE,
    BodyPart,
    End,
    Head,
    HttpProtocolError,
    ResponseEvent,
    ResponseReader,
    encode_request,
)


def sized(body: bytes, status: int = 200, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def chunked(chunks: list[bytes], status: int = 200, trailers: str = "") -> bytes:
    out = f"HTTP/1.1 {status} OK\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for chunk in chunks:
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


def feed_all(reader: ResponseReader, pieces: list[bytes]) -> list[ResponseEvent]:
    events: list[ResponseEvent] = []
    for piece in pieces:
        events += reader.feed(piece)
    return events


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def bodies(events: list[ResponseEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, BodyPart)]


# ---- well-formed responses ----------------------------------------------------------


def test_sized_response() -> None:
    reader = ResponseReader()
    events = reader.feed(sized(b'{"a":1}', extra="X-Thing:  spaced value \r\n"))
    head = events[0]
    assert isinstance(head, Head)
    assert (head.status, head.reason) == (200, "OK")
    assert head.headers == {"content-length": "7", "x-thing": "spaced value"}
    assert events[1:] == [BodyPart(b'{"a":1}'), End()]
    assert reader.idle


def test_chunked_response_gives_each_chunk() -> None:
    events = ResponseReader().feed(chunked([b"ab", b"c" * 300]))
    assert isinstance(events[0], Head)
    assert events[1:] == [BodyPart(b"ab"), BodyPart(b"c" * 300), End()]


def test_chunk_extensions_and_trailers_are_skipped() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3;name=value;other\r\nabc\r\n"
        b"0;last\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"
    )
    events = ResponseReader().feed(data)
    assert events[1:] == [BodyPart(b"abc"), End()]


def test_informational_responses_are_skipped() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + sized(b"x")
    events = ResponseReader().feed(data)
    assert [type(e) for e in events] == [Head, BodyPart, End]
    assert isinstance(events[0], Head) and events[0].status == 200


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_end_at_the_head(status: int) -> None:
    reader = ResponseReader()
    events = reader.feed(f"HTTP/1.1 {status} Nothing\r\n\r\n".encode() + sized(b"next"))
    assert events[0] == Head(status, "Nothing", {})
    assert events[1] == End()
    assert events[2:] == [Head(200, "OK", {"content-length": "4"}), BodyPart(b"next"), End()]


def test_zero_length_body() -> None:
    events = ResponseReader().feed(sized(b""))
    assert [type(e) for e in events] == [Head, End]


def test_status_line_without_reason() -> None:
    events = ResponseReader().feed(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
    assert events[0] == Head(200, "", {"content-length": "0"})


def test_pipelined_responses_in_one_feed() -> None:
    data = sized(b"one") + chunked([b"two"]) + sized(b"three", status=404)
    events = ResponseReader().feed(data)
    heads = [e.status for e in events if isinstance(e, Head)]
    assert heads == [200, 200, 404]
    assert bodies(events) == [b"one", b"two", b"three"]
    assert sum(isinstance(e, End) for e in events) == 3


def test_trailing_data_is_kept_for_the_next_response() -> None:
    reader = ResponseReader()
    second = sized(b"second")
    events = reader.feed(sized(b"first") + second[:10])
    assert bodies(events) == [b"first"] and events[-1] == End()
    assert not reader.idle  # part of the next head is buffered
    events = reader.feed(second[10:])
    assert bodies(events) == [b"second"] and events[-1] == End()
    assert reader.idle


def test_idle_only_between_responses() -> None:
    reader = ResponseReader()
    assert reader.idle
    data = chunked([b"abc"])
    for i, byte in enumerate(byte_by_byte(data)):
        reader.feed(byte)
        assert reader.idle == (i == len(data) - 1)


def test_every_split_point_gives_the_same_events() -> None:
    data = sized(b"hello") + chunked([b"wor", b"ld"], trailers="T: 1\r\n") + sized(b"!")
    expected = ResponseReader().feed(data)
    assert feed_all(ResponseReader(), byte_by_byte(data)) == expected
    for i in range(len(data) + 1):
        assert feed_all(ResponseReader(), [data[:i], data[i:]]) == expected, i


# ---- random responses, random splits --------------------------------------------------

_BODY = st.binary(max_size=40)
_RESPONSES = st.one_of(
    st.tuples(st.just("sized"), st.sampled_from([200, 400, 404, 500]), _BODY),
    st.tuples(st.just("chunked"), st.sampled_from([200, 503]), st.lists(_BODY.filter(bool))),
    st.tuples(st.just("empty"), st.sampled_from([204, 304]), st.just(b"")),
)


def _encode(kind: str, status: int, body: bytes | list[bytes]) -> bytes:
    if kind == "sized":
        assert isinstance(body, bytes)
        return sized(body, status)
    if kind == "chunked":
        assert isinstance(body, list)
        return chunked(body, status)
    return f"HTTP/1.1 {status} OK\r\n\r\n".encode()


def _reference(kind: str, status: int, body: bytes | list[bytes]) -> list[ResponseEvent]:
    """The events a response should give, built without the reader."""
    if kind == "sized":
        assert isinstance(body, bytes)
        head = Head(status, "OK", {"content-length": str(len(body))})
        return [head, *([BodyPart(body)] if body else []), End()]
    if kind == "chunked":
        assert isinstance(body, list)
        head = Head(status, "OK", {"transfer-encoding": "chunked"})
        return [head, *(BodyPart(c) for c in body), End()]
    return [Head(status, "OK", {}), End()]


@given(
    responses=st.lists(_RESPONSES, min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_random_responses_split_anywhere(
    responses: list[tuple[str, int, bytes | list[bytes]]], cuts: list[int]
) -> None:
    data = b"".join(_encode(*r) for r in responses)
    expected = [event for r in responses for event in _reference(*r)]
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    reader = ResponseReader()
    assert feed_all(reader, pieces) == expected
    assert reader.idle


# ---- limits ----------------------------------------------------------------------------


def _raises(data: bytes | list[bytes], match: str, max_body: int = 1 << 20) -> ResponseReader:
    reader = ResponseReader(max_body)
    with pytest.raises(HttpProtocolError, match=match):
        feed_all(reader, [data] if isinstance(data, bytes) else data)
    return reader


def test_head_too_long() -> None:
    data = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD
    _raises(data, "head longer than")


def test_head_of_exactly_the_limit_is_accepted() -> None:
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: "
    head = start + b"a" * (MAX_HEAD - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == MAX_HEAD
    assert [type(e) for e in ResponseReader().feed(head)] == [Head, End]
    _raises(head[:-4] + b"a\r\n\r\n", "head longer than")


def test_too_many_headers() -> None:
    headers = "".join(f"X-{i}: v\r\n" for i in range(MAX_HEADERS + 1))
    _raises(f"HTTP/1.1 200 OK\r\n{headers}\r\n".encode(), f"more than {MAX_HEADERS} header")
    headers = "".join(f"X-{i}: v\r\n" for i in range(MAX_HEADERS - 1))  # + Content-Length
    events = ResponseReader().feed(sized(b"", extra=headers))
    assert isinstance(events[0], Head) and len(events[0].headers) == MAX_HEADERS


def test_chunk_size_line_too_long() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    _raises(head + b"1;" + b"x" * MAX_LINE, f"line longer than {MAX_LINE}")


def test_chunk_size_line_of_exactly_the_limit_is_accepted_however_split() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"1;" + b"x" * (MAX_LINE - 2)
    data = head + line + b"\r\na\r\n0\r\n\r\n"
    expected = ResponseReader().feed(data)
    assert expected[1:] == [BodyPart(b"a"), End()]
    cut = len(head) + len(line) + 1  # between the CR and the LF of the longest line
    assert feed_all(ResponseReader(), [data[:cut], data[cut:]]) == expected


def test_trailer_line_too_long() -> None:
    data = chunked([b"a"])[:-2] + b"X-T: " + b"t" * MAX_LINE
    _raises(data, f"line longer than {MAX_LINE}")


def test_sized_body_over_max_body() -> None:
    _raises(sized(b"x" * 101), "101 bytes .limit 100", max_body=100)
    assert bodies(ResponseReader(100).feed(sized(b"x" * 100))) == [b"x" * 100]


def test_chunk_over_max_body() -> None:
    _raises(chunked([b"x" * 101]), "101 bytes .limit 100", max_body=100)
    # the limit is per chunk: many chunks at the limit are fine
    events = ResponseReader(100).feed(chunked([b"x" * 100] * 5))
    assert bodies(events) == [b"x" * 100] * 5


# ---- malformed responses -------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [b"HTTP/2 200 OK", b"ICY 200 OK", b"HTTP/1.1 abc OK", b"HTTP/1.1", b""]
)
def test_bad_status_line(line: bytes) -> None:
    _raises(line + b"\r\nContent-Length: 0\r\n\r\n", "expected an HTTP/1.x status line")


@pytest.mark.parametrize("header", [b"no colon", b": no name", b"Name : space before colon"])
def test_bad_header_line(header: bytes) -> None:
    _raises(b"HTTP/1.1 200 OK\r\n" + header + b"\r\n\r\n", "malformed header line")


@pytest.mark.parametrize("length", ["-1", "1.5", "abc", "0x10"])
def test_bad_content_length(length: str) -> None:
    _raises(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode(), "bad Content-Length")


@pytest.mark.parametrize("length", ["²", "\u0665", "+5", " 5 x", "5 5", "1_0", "9" * 5000])
@pytest.mark.parametrize("split", ["whole", "byte by byte"])
def test_content_length_of_other_than_ascii_digits_is_a_sticky_error(
    length: str, split: str
) -> None:
    data = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\nhello".encode()
    reader = _raises(data if split == "whole" else byte_by_byte(data), "bad Content-Length")
    with pytest.raises(HttpProtocolError, match="bad Content-Length"):
        reader.feed(sized(b"fine"))
    assert not reader.idle


@pytest.mark.parametrize("split", ["whole", "byte by byte"])
def test_two_different_content_lengths_are_a_sticky_error(split: str) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello!"
    reader = _raises(data if split == "whole" else byte_by_byte(data), "two different Content")
    with pytest.raises(HttpProtocolError, match="two different Content-Length"):
        reader.feed(sized(b"fine"))


def test_the_same_content_length_twice_is_accepted() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
    assert bodies(feed_all(ResponseReader(), byte_by_byte(data))) == [b"hello"]
    assert bodies(ResponseReader().feed(data)) == [b"hello"]


def test_unsupported_transfer_encoding() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    _raises(data, "unsupported transfer-encoding 'gzip, chunked'")


def test_missing_length() -> None:
    _raises(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", "neither Content-Length nor chunks")


@pytest.mark.parametrize("size_line", [b"g", b"", b"-1", b" ;x"])
def test_bad_chunk_size(size_line: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    _raises(head + size_line + b"\r\n", "bad chunk size line")


def test_missing_crlf_after_chunk() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    _raises(head + b"2\r\nabcd\r\n", "expected CRLF after a chunk")


def test_error_is_sticky() -> None:
    reader = _raises(b"garbage\r\n\r\n", "status line")
    with pytest.raises(HttpProtocolError, match="status line"):
        reader.feed(sized(b"fine"))
    with pytest.raises(HttpProtocolError, match="status line"):
        reader.feed(b"")
    assert not reader.idle


# ---- a bound on work ------------------------------------------------------------------


def test_a_head_fed_byte_by_byte_is_searched_in_linear_time() -> None:
    """Each byte of a head is looked at a bounded number of times, however it arrives."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: " + b"p" * (60 * 1024) + b"\r\n\r\n"
    reader = ResponseReader()
    events = feed_all(reader, byte_by_byte(head))
    assert [type(e) for e in events] == [Head, End]
    # searching from the start on every byte would scan ~len(head)**2 / 2 bytes
    assert len(head) <= reader.scanned_bytes <= 4 * len(head)


def test_chunk_size_and_trailer_lines_fed_byte_by_byte_are_searched_in_linear_time() -> None:
    """The lines of a chunked body (size lines, trailers) are searched once, not per byte."""
    long_line = b"x" * (MAX_LINE - 10)
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"3;"
        + long_line
        + b"\r\nabc\r\n0\r\n"
        + b"".join(b"X-T: " + long_line + b"\r\n" for _ in range(4))
        + b"\r\n"
    )
    reader = ResponseReader()
    assert bodies(feed_all(reader, byte_by_byte(data))) == [b"abc"]
    assert reader.idle
    assert reader.scanned_bytes <= 4 * len(data)


def test_a_body_is_not_searched_for_line_ends() -> None:
    body = b"\r\n" * 1000
    reader = ResponseReader()
    data = sized(body) + chunked([body])
    assert bodies(reader.feed(data)) == [body, body]
    assert reader.scanned_bytes <= len(data) - 2 * len(body)  # the heads and size lines


# ---- requests ----------------------------------------------------------------------


def test_encode_request() -> None:
    data = encode_request("/v3/kv/put", b'{"k":1}', "h:1", (("Authorization", "tok"),))
    assert data == (
        b"POST /v3/kv/put HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 7\r\nAuthorization: tok\r\n\r\n{"k":1}'
    )


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_encode_request_refuses_line_breaks(value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_request("/v3/kv/put", b"{}", "h:1", (("Authorization", value),))
    with pytest.raises(ValueError, match="line break"):
        encode_request("/v3/x" + value, b"{}", "h:1")
