"""The port registry: a daemon per host that hands out and advertises ports.

Pure core: `entries` (the value types), `store` (the allocation table),
`wire`, `native` and `nscl` (the three dialects' line codecs; `native` is
typed on both ends), `session` (one connection's protocol). Glue: `server`
(`RegistryServer`, the daemon). Clients: `client` (async `PortRegistry`),
`manager` (blocking, NSCL-compatible `PortManager`). See ``doc/registry.md``.

Names are imported lazily, so importing the pure modules pulls in no asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "ANY_USER": "mountcomm.registry.state",
    "EventKind": "mountcomm.registry.entries",
    "RegistryStartError": "mountcomm.registry.autostart",
    "State": "mountcomm.registry.state",
    "PortEntry": "mountcomm.registry.entries",
    "PortEvent": "mountcomm.registry.entries",
    "PortStore": "mountcomm.registry.store",
    "Query": "mountcomm.registry.entries",
    "RegistryServer": "mountcomm.registry.server",
    "PortRegistry": "mountcomm.registry.client",
    "PortWatch": "mountcomm.registry.client",
    "PortManager": "mountcomm.registry.manager",
    "RegistryHarness": "mountcomm.registry.harness",
}

__all__ = [
    "ANY_USER",
    "EventKind",
    "PortEntry",
    "PortEvent",
    "PortManager",
    "PortRegistry",
    "PortStore",
    "PortWatch",
    "Query",
    "RegistryHarness",
    "RegistryServer",
    "RegistryStartError",
    "State",
]

if TYPE_CHECKING:
    from .autostart import RegistryStartError
    from .client import PortRegistry, PortWatch
    from .entries import EventKind, PortEntry, PortEvent, Query
    from .harness import RegistryHarness
    from .manager import PortManager
    from .server import RegistryServer
    from .state import ANY_USER, State
    from .store import PortStore


__getattr__, __dir__ = lazy_attributes("mountcomm.registry", _LAZY, globals())
