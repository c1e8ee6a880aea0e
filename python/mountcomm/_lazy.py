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
        The package's ``globals()``; a loaded name is cached there. Its
        ``__all__`` (default: the keys of ``names``) is what ``dir()`` lists.

    Notes
    -----
    A package lists each public name three times: in ``names`` (its ``_LAZY``),
    in ``__all__`` and in the ``TYPE_CHECKING`` imports for type checkers;
    ``tests/test_public_names.py`` checks that the three agree in every package.
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
        return sorted(namespace.get("__all__", names))

    return getattr_, dir_
