"""A recording relay between mount consoles and a controller: `MountProxy`.

`MountProxy` forwards every frame byte for byte, records each one (see
`mountcomm.telemetry.frames`) and injects network faults per direction
(`ProxyFaults`). ``mountcomm proxy`` runs one as a process; ``mountcomm sim
--replay`` answers from its recordings. See ``doc/proxy.md``.
"""

from ..telemetry.frames import Direction, FrameRecord, FrameRecords
from .cutter import FrameCutter, Piece
from .faults import Action, ActionKind, FrameHook, ProxyFaults, corrupt_frame
from .proxy import MountProxy
from .recording import FrameLog

__all__ = [
    "Action",
    "ActionKind",
    "Direction",
    "FrameCutter",
    "FrameHook",
    "FrameLog",
    "FrameRecord",
    "FrameRecords",
    "MountProxy",
    "Piece",
    "ProxyFaults",
    "corrupt_frame",
]
