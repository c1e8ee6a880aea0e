"""Transport: asyncio streams carrying the mount protocol."""

from .client_server_pair import ClientServerPair
from .communicator import Communicator
from .discovery import mount_service_name
from .errors import IncompleteFrameError
from .retry import backoff
from .server import OneClientServer

__all__ = [
    "ClientServerPair",
    "Communicator",
    "IncompleteFrameError",
    "OneClientServer",
    "backoff",
    "mount_service_name",
]
