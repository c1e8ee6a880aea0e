"""The simulator's side of the telemetry stream: `TelemetryServer`.

The server (`TelemetryServer`, in `mountcomm.telemetry.server`), the stream
format (`encode_sample`, `decode_sample`, the topics' fields) and the client
(`TelemetryClient`) live in `mountcomm.telemetry`; they are re-exported here
for code written against earlier releases.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BUFFER_BYTES",
    "TelemetryClient",
    "TelemetryServer",
    "decode_sample",
    "encode_sample",
]

from ..telemetry.client import TelemetryClient
from ..telemetry.codec import decode_sample, encode_sample
from ..telemetry.server import DEFAULT_MAX_BUFFER_BYTES, TelemetryServer
