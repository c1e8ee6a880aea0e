"""The port registry: a daemon per host that hands out and advertises ports.

Pure core: `store` (the allocation table), `wire` (the three dialects' line
codecs), `session` (one connection's protocol). Glue: `server`
(`RegistryServer`, the daemon). Clients: `client` (async `PortRegistry`),
`manager` (blocking, NSCL-compatible `PortManager`). See ``doc/registry.md``.

Names are imported lazily, so importing the pure modules pulls in no asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "PortEntry": "mountcomm.registry.store",
    "PortEvent": "mountcomm.registry.store",
    "PortStore": "mountcomm.registry.store",
    "Query": "mountcomm.registry.store",
    "RegistryServer": "mountcomm.registry.server",
    "PortRegistry": "mountcomm.registry.client",
    "PortWatch": "mountcomm.registry.client",
    "PortManager": "mountcomm.registry.manager",
    "RegistryHarness": "mountcomm.registry.harness",
}

__all__ = [
    "PortEntry",
    "PortEvent",
    "PortManager",
    "PortRegistry",
    "PortStore",
    "PortWatch",
    "Query",
    "RegistryHarness",
    "RegistryServer",
]

if TYPE_CHECKING:
    from .client import PortRegistry, PortWatch
    from .harness import RegistryHarness
    from .manager import PortManager
    from .server import RegistryServer
    from .store import PortEntry, PortEvent, PortStore, Query


__getattr__, __dir__ = lazy_attributes("mountcomm.registry", _LAZY, globals())
