"""The port registry: a daemon per host that hands out and advertises ports.

Pure core: `store` (the allocation table), `wire` (the three dialects' line
codecs), `session` (one connection's protocol). Glue: `server`
(`RegistryServer`, the daemon). Clients: `client` (async `PortRegistry`),
`manager` (blocking, NSCL-compatible `PortManager`). See ``doc/registry.md``.

Names are imported lazily, so importing the pure modules pulls in no asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mountcomm.registry' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
