"""The telemetry format: the documented fields are what the simulator sends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mountcomm.exceptions import ProtocolError
from mountcomm.protocol.enums import TelemetryTopicId
from mountcomm.sim.devices import Mount
from mountcomm.telemetry import TOPIC_FIELDS, decode_sample, encode_sample
from mountcomm.telemetry.codec import topic_name

DOC = Path(__file__).parents[2] / "doc" / "telemetry.md"


def test_every_topic_has_its_fields_listed() -> None:
    assert set(TOPIC_FIELDS) == set(TelemetryTopicId)


def test_the_simulator_sends_exactly_the_listed_fields_in_order() -> None:
    samples = Mount().telemetry(1.0e9)
    assert {s["topicID"] for s in samples} == set(TelemetryTopicId)
    for sample in samples:
        fields = TOPIC_FIELDS[TelemetryTopicId(sample["topicID"])]
        assert list(sample) == [f.name for f in fields]


def field_table(topic: TelemetryTopicId) -> str:
    """The Markdown table of a topic's fields, as doc/telemetry.md shows it."""
    lines = ["| field | unit | meaning |", "|---|---|---|"]
    for field in TOPIC_FIELDS[topic]:
        lines.append(f"| `{field.name}` | {field.unit or '-'} | {field.doc} |")
    return "\n".join(lines) + "\n"


def test_the_doc_lists_each_topic_with_its_fields() -> None:
    text = DOC.read_text()
    for topic in TelemetryTopicId:
        assert re.search(rf"^\| `{topic.name}` \| {int(topic)} \|", text, re.MULTILINE), topic
        assert field_table(topic) in text, f"doc/telemetry.md: fields of {topic.name}"


def test_encode_decode_round_trip_and_errors() -> None:
    line = encode_sample({"topicID": 6, "timestamp": 1.5, "angleActual": 2.0})
    assert line == b'{"topicID":6,"timestamp":1.5,"angleActual":2.0}\r\n'
    assert decode_sample(line) == {"topicID": 6, "timestamp": 1.5, "angleActual": 2.0}
    for bad in (b"nope\r\n", b"[1]\r\n", b'{"topicID": "6"}\r\n', b"\xff\r\n"):
        with pytest.raises(ProtocolError):
            decode_sample(bad)


def test_topic_name() -> None:
    assert topic_name(14) == "ELEVATION_DRIVE"
    assert topic_name(999) == "999"
