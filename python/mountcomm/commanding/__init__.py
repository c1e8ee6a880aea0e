"""Commanding: what observatory (CSC) code uses to drive the mount.

`MountClient` is the facade: a console connection, a reply handler and a
`CommandTracker`, with an explicit life cycle (`ClientState`). `CommandTracker`
assigns sequence ids and turns replies into `CommandFutures`; the policies it
applies (timeouts, which error a NOACK maps to) are pure functions in
`mountcomm.commanding.policy`.
"""

from .client import MountClient
from .futures import CommandFutures
from .lifecycle import ClientState
from .policy import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DONE_MARGIN,
    done_timeout,
    is_superseded,
    noack_exception,
    should_log_occurrence,
)
from .tracker import CommandTracker
from .unsolicited import UnsolicitedReplies

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_DONE_MARGIN",
    "ClientState",
    "CommandFutures",
    "CommandTracker",
    "MountClient",
    "UnsolicitedReplies",
    "done_timeout",
    "is_superseded",
    "noack_exception",
    "should_log_occurrence",
]
