"""The fixtures in a user's project: strict mode, and a test in the wrong event loop."""

from __future__ import annotations

import pytest

from mountcomm.testing.loop_scope import loop_scope_problem

from ..user_project import STRICT_MODE_ARGS as STRICT

TESTS = """
import asyncio

import pytest
from mountcomm import commands

{marker}

async def test_mount(mount_client):
    await asyncio.wait_for(mount_client.run(commands.MainPowerSupplyPower(on=True)), 10)

async def test_pair(communicator_pair):
    console, controller = communicator_pair
    await console.write(commands.Enable(sequence_id=1))
    assert (await asyncio.wait_for(controller.read(), 10)).sequence_id == 1

async def test_registry(port_registry):
    await port_registry.client.register("svc", 5000)
    assert [e.port for e in await port_registry.client.find(service="svc")] == [5000]
"""


def run(pytester: pytest.Pytester, marker: str, fixture_loop_scope: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=TESTS.format(marker=marker))
    return pytester.runpytest_inprocess(
        *STRICT, "-o", f"asyncio_default_fixture_loop_scope={fixture_loop_scope}"
    )


def test_strict_mode_with_the_marker_works(pytester: pytest.Pytester) -> None:
    result = run(pytester, "pytestmark = pytest.mark.asyncio", "function")
    result.assert_outcomes(passed=3)


def test_module_loop_with_module_fixture_loop_works(pytester: pytest.Pytester) -> None:
    result = run(pytester, 'pytestmark = pytest.mark.asyncio(loop_scope="module")', "module")
    result.assert_outcomes(passed=3)


def test_module_scoped_test_loop_is_a_clear_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, 'pytestmark = pytest.mark.asyncio(loop_scope="module")', "function")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*test_user.py::test_mount runs in a module-scoped event loop, but the mountcomm "
            "fixture 'mock_controller' runs in the function-scoped loop of async fixtures*",
            "*drop loop_scope='module' from its asyncio marker), or set "
            "asyncio_default_fixture_loop_scope = module in your pytest configuration.",
        ]
    )
    assert "Timeout (>" not in result.stdout.str()  # no pytest-timeout: no hang


def test_module_scoped_fixture_loop_is_a_clear_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "pytestmark = pytest.mark.asyncio", "module")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        ["*test_user.py::test_pair runs in a function-scoped event loop, but the mountcomm*"]
    )


def test_missing_marker_in_strict_mode_is_a_clear_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "", "function")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        ["*test_user.py::test_registry is an async test without @pytest.mark.asyncio*"]
    )


@pytest.mark.parametrize(
    ("marker", "test_default", "fixture_default", "wrong"),
    [
        ({}, None, None, False),
        ({}, "function", "function", False),
        ({}, "function", "fixture-scope", False),
        ({"loop_scope": "module"}, None, "module", False),
        ({"scope": "module"}, None, "function", True),
        ({"loop_scope": "class"}, None, None, True),
        ({}, "session", "function", True),
        ({}, None, "session", True),
        (None, None, None, True),
    ],
)
def test_loop_scope_problem(
    marker: dict[str, str] | None,
    test_default: str | None,
    fixture_default: str | None,
    wrong: bool,
) -> None:
    problem = loop_scope_problem(
        "t",
        is_coroutine=True,
        marker_kwargs=marker,
        default_test_loop_scope=test_default,
        default_fixture_loop_scope=fixture_default,
        fixture="mock_controller",
    )
    assert (problem is not None) == wrong


def test_sync_tests_are_not_checked() -> None:
    problem = loop_scope_problem(
        "t",
        is_coroutine=False,
        marker_kwargs=None,
        default_test_loop_scope="module",
        default_fixture_loop_scope="function",
        fixture="mock_controller",
    )
    assert problem is None
