"""Every exception a registry module defines is in mountcomm's tree (`MountcommError`)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from types import ModuleType

import pytest

import mountcomm.registry
from mountcomm import exceptions
from mountcomm.exceptions import (
    ConnectionClosedError,
    MountcommError,
    ProtocolError,
    RegistryError,
)
from mountcomm.registry.autostart import RegistryStartError
from mountcomm.registry.cluster.errors import EtcdRequestError, EtcdUnavailable, RevisionCompacted
from mountcomm.registry.cluster.gateway import GatewayClosed
from mountcomm.registry.cluster.http import HttpProtocolError
from mountcomm.testing import etcd as testing_etcd


def registry_modules() -> list[ModuleType]:
    """`mountcomm.registry` and every module under it."""
    package = mountcomm.registry
    names = [info.name for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return [package, *(importlib.import_module(name) for name in sorted(names))]


def exception_classes() -> list[type[BaseException]]:
    """The exception classes defined (not imported) by a registry module, private ones too."""
    found = []
    for module in registry_modules():
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_the_walk_finds_the_registry_modules_exceptions() -> None:
    found = set(exception_classes())
    expected = {
        RegistryStartError,
        EtcdUnavailable,
        EtcdRequestError,
        RevisionCompacted,
        GatewayClosed,
        HttpProtocolError,
    }
    assert expected <= found


@pytest.mark.parametrize("cls", exception_classes(), ids=lambda cls: cls.__qualname__)
def test_every_registry_exception_derives_from_mountcomm_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, MountcommError), f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("cls", exception_classes(), ids=lambda cls: cls.__qualname__)
def test_the_tree_drawn_in_exceptions_names_every_public_one(cls: type[BaseException]) -> None:
    if not cls.__name__.startswith("_"):
        assert f" {cls.__name__} " in (exceptions.__doc__ or ""), cls.__name__


def test_where_the_cluster_errors_sit() -> None:
    assert issubclass(EtcdUnavailable, ConnectionClosedError)
    assert issubclass(GatewayClosed, EtcdUnavailable)
    assert issubclass(RevisionCompacted, EtcdUnavailable)
    # a refusal, not a lost connection
    assert issubclass(EtcdRequestError, RegistryError)
    assert not issubclass(EtcdRequestError, ConnectionError)
    assert issubclass(HttpProtocolError, ProtocolError)
    assert issubclass(HttpProtocolError, ValueError)
    # the testing helper's error is the same class under its former name
    assert testing_etcd.EtcdUnavailableError is EtcdUnavailable


def test_cluster_errors_keep_their_details() -> None:
    refused = EtcdRequestError("lease not found", 5)
    assert (str(refused), refused.grpc_code, refused.code) == ("lease not found", 5, "etcd_refused")
    copy = pickle.loads(pickle.dumps(refused))
    assert (type(copy), str(copy), copy.grpc_code) == (EtcdRequestError, "lease not found", 5)
    bad = HttpProtocolError("malformed header line b'x'", b"x")
    assert bad.frame == b"x"
