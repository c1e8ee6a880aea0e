"""Lazy package attributes: import a public name's module on first use."""

from __future__ import annotations

__all__ = ["lazy_attributes"]

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package whose names load lazily.

    Parameters
    ----------
    package : `str`
        The package's name, for error messages.
    names : `Mapping` [`str`, `str`]
        Public name → absolute name of the module that defines it.
    namespace : `dict`
        The package's ``globals()``; a loaded name is cached there.
    """

    def getattr_(name: str) -> Any:
        try:
            module_name = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
