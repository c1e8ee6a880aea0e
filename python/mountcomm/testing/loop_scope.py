"""Check that a test and mountcomm's fixtures share one event loop.

The fixtures (``mock_controller``, ``mount_client``, ...) are function-scoped
async fixtures: they run in the event loop that pytest-asyncio gives function
fixtures (``asyncio_default_fixture_loop_scope``, ``function`` by default).
A test must run in that same loop. A test in another loop (e.g.
``@pytest.mark.asyncio(loop_scope="module")``) would await objects whose tasks
and futures belong to a loop that is not running: commands hang until
``CommandTimeout``, or asyncio says "attached to a different loop". Likewise a
coroutine test without ``@pytest.mark.asyncio`` in strict mode is never run
(pytest only warns and skips it). `loop_scope_problem` names either mistake
before the fixture starts anything.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytest

__all__ = ["check_loop_scope", "loop_scope_problem"]

_MATCH_FIXTURE_SCOPE = "fixture-scope"
_FIXTURE_SCOPE = "function"
"""The scope of every mountcomm fixture."""


def loop_scope_problem(
    test: str,
    *,
    is_coroutine: bool,
    marker_kwargs: Mapping[str, Any] | None,
    default_test_loop_scope: str | None,
    default_fixture_loop_scope: str | None,
    fixture: str,
) -> str | None:
    """Say why ``fixture`` cannot serve ``test``, or return None if it can.

    Parameters
    ----------
    test : `str`
        The test's node id, for the message.
    is_coroutine : `bool`
        Whether the test function is a coroutine function.
    marker_kwargs : mapping or `None`
        Keyword arguments of the test's closest ``asyncio`` marker; `None`
        if it has none (in auto mode pytest-asyncio adds one).
    default_test_loop_scope, default_fixture_loop_scope : `str` or `None`
        pytest-asyncio's ``asyncio_default_test_loop_scope`` and
        ``asyncio_default_fixture_loop_scope`` settings.
    fixture : `str`
        The fixture's name, for the message.

    Returns
    -------
    message : `str` or `None`
        What is wrong and how to fix it.
    """
    if not is_coroutine:
        return None
    if marker_kwargs is None:
        return (
            f"{test} is an async test without @pytest.mark.asyncio: in pytest-asyncio's "
            f"strict mode (its default) it would not run. Mark it @pytest.mark.asyncio, "
            f"or set asyncio_mode = auto in your pytest configuration."
        )
    test_scope = (
        marker_kwargs.get("loop_scope") or marker_kwargs.get("scope") or default_test_loop_scope
    ) or "function"
    fixture_scope = default_fixture_loop_scope or _FIXTURE_SCOPE
    if fixture_scope == _MATCH_FIXTURE_SCOPE:
        fixture_scope = _FIXTURE_SCOPE
    if test_scope == fixture_scope:
        return None
    return (
        f"{test} runs in a {test_scope}-scoped event loop, but the mountcomm fixture "
        f"{fixture!r} runs in the {fixture_scope}-scoped loop of async fixtures "
        f"(asyncio_default_fixture_loop_scope = {default_fixture_loop_scope or 'unset'}); "
        f"the test would await objects of a loop that is not running (a hang, "
        f"CommandTimeout or 'attached to a different loop'). Use one loop scope for both: "
        f"run the test in a {fixture_scope}-scoped loop (drop loop_scope={test_scope!r} "
        f"from its asyncio marker), or set asyncio_default_fixture_loop_scope = "
        f"{test_scope} in your pytest configuration."
    )


def check_loop_scope(request: pytest.FixtureRequest) -> None:
    """Fail the fixture ``request`` if its test cannot share the fixture's loop.

    Raises
    ------
    pytest.fail.Exception
        With the message of `loop_scope_problem`.
    """
    item = request.node
    function = getattr(item, "function", None)
    marker = item.get_closest_marker("asyncio")
    config = request.config
    problem = loop_scope_problem(
        item.nodeid,
        is_coroutine=function is not None and inspect.iscoroutinefunction(function),
        marker_kwargs=None if marker is None else marker.kwargs,
        default_test_loop_scope=_ini(config, "asyncio_default_test_loop_scope"),
        default_fixture_loop_scope=_ini(config, "asyncio_default_fixture_loop_scope"),
        fixture=request.fixturename or "a mountcomm fixture",
    )
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def _ini(config: pytest.Config, name: str) -> str | None:
    try:
        value = config.getini(name)
    except ValueError:  # an older pytest-asyncio without this setting
        return None
    return str(value) if value else None
