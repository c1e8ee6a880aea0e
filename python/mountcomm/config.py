"""Configuration: the YAML file of ports, registry and simulator settings.

`load` reads a YAML file (or none, for the built-in defaults), checks every key
and value, and returns a `Config`. Errors name the file and the dotted key.
The package ships ``mountcomm/mountcomm.yaml`` (`DEFAULT_FILE`; the
repository's ``config/mountcomm.yaml`` is a copy): it holds the conventional
values, which are also the built-in defaults, with a comment on each key;
`default_text` returns it (``mountcomm config --dump`` prints it).
"""

from __future__ import annotations

__all__ = ["DEFAULT_FILE", "Config", "ConfigError", "RolePorts", "default_text", "load", "to_dict"]

import dataclasses
import importlib.resources
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from .exceptions import MountcommError

ENV_VAR = "MOUNTCOMM_CONFIG"
EPHEMERAL_POOL = "ephemeral"
"""The ``registry.pool`` value for "no pool, the OS picks each port" (`None`)."""


DEFAULT_FILE = "mountcomm.yaml"
"""Name of the default configuration file inside the ``mountcomm`` package."""


class ConfigError(MountcommError, ValueError):
    """A configuration file is missing, unreadable or invalid."""


def default_text() -> str:
    """Return the text of the default configuration file shipped in the package.

    Its values equal the built-in defaults (`Config()`); its comments explain
    each key.
    """
    return importlib.resources.files("mountcomm").joinpath(DEFAULT_FILE).read_text("utf-8")


@dataclasses.dataclass(frozen=True)
class RolePorts:
    """Ports of one console role.

    Attributes
    ----------
    command_port : `int`
        Where the controller reads commands.
    reply_port : `int`
        Where the console's server reads replies (conventionally command_port + 1).
    """

    command_port: int
    reply_port: int


@dataclasses.dataclass(frozen=True)
class Config:
    """Validated configuration. See `default_text` for the meaning of each key."""

    roles: dict[str, RolePorts] = dataclasses.field(
        default_factory=lambda: {
            "csc": RolePorts(50005, 50006),
            "eui": RolePorts(60005, 60006),
            "hhd": RolePorts(40005, 40006),
        }
    )
    telemetry_port: int = 50035
    host: str = "127.0.0.1"
    registry_host: str = "127.0.0.1"
    registry_port: int = 30000
    registry_pool: tuple[tuple[int, int], ...] | None = ((30001, 30999),)
    registry_unix_socket: str | None = None
    registry_cluster: dict[str, Any] | None = None
    registry_advertise_host: str | None = None
    telemetry_rate_hz: float = 10.0
    sim_limits: dict[str, dict[str, float]] = dataclasses.field(
        default_factory=lambda: {
            "elevation": {"min": 20.0, "max": 86.5, "max_velocity": 3.5, "max_acceleration": 3.5},
            "azimuth": {"min": -270.0, "max": 270.0, "max_velocity": 7.0, "max_acceleration": 7.0},
            "camera_cable_wrap": {
                "min": -90.0,
                "max": 90.0,
                "max_velocity": 3.5,
                "max_acceleration": 1.0,
            },
        }
    )
    source: str = "<built-in defaults>"


_ROLES = ("csc", "eui", "hhd")
_AXES = ("elevation", "azimuth", "camera_cable_wrap")
_LIMIT_KEYS = ("min", "max", "max_velocity", "max_acceleration")


class _Reader:
    """Walks the YAML tree, naming the file and dotted key in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key or '(top level)'}: {message}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        for k in value:
            if k not in allowed:
                raise self.fail(
                    f"{key}.{k}" if key else str(k), f"unknown key; expected one of {list(allowed)}"
                )
        return value

    def port(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise self.fail(key, f"expected a port number 0…65535, got {value!r}")
        return value

    def number(self, value: Any, key: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not -sys.float_info.max <= value <= sys.float_info.max:  # also false for NaN
            raise self.fail(key, f"expected a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"expected a positive number, got {value!r}")
        return float(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value


_CLUSTER_KEYS = ("url", "user", "password", "ca_file", "cert_file", "key_file", "ttl")


def _cluster(reader: _Reader, value: Any, key: str) -> dict[str, Any]:
    """``etcd://HOST:PORT[,...]``, or a mapping with ``url`` and optional credentials.

    Returns ``{"url": ..., ...}`` with the keys of `_CLUSTER_KEYS` that were given
    (``ttl`` an integer number of seconds, the others strings).
    """
    if isinstance(value, str):
        value = {"url": value}
    m = reader.mapping(value, key, _CLUSTER_KEYS)
    if "url" not in m:
        raise reader.fail(f"{key}.url", "missing; expected etcd://HOST:PORT[,HOST:PORT...]")
    out: dict[str, Any] = {}
    for name, item in m.items():
        if name == "ttl":
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 5:
                raise reader.fail(f"{key}.ttl", f"expected 1…5 seconds, got {item!r}")
            out[name] = item
        elif item is not None:
            out[name] = reader.text(item, f"{key}.{name}")
    if not out["url"].lower().startswith("etcd://"):
        raise reader.fail(f"{key}.url", f"expected etcd://HOST:PORT[,...], got {out['url']!r}")
    return out


def _pool(reader: _Reader, value: Any, key: str) -> tuple[tuple[int, int], ...] | None:
    """Ranges ``'LO-HI'`` (one string or a list), or ``'ephemeral'`` → `None`.

    `None` is what ``RegistryServer(pool=None)`` takes: no pool, the OS picks
    each port (as ``mountcomm registry --pool ephemeral``).
    """
    if isinstance(value, str) and value.strip().lower() == EPHEMERAL_POOL:
        return None
    if value == []:  # an empty pool would silently mean "ephemeral"
        raise reader.fail(key, "expected at least one range 'LO-HI', or 'ephemeral'")
    ranges = []
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        k = f"{key}[{i}]"
        if isinstance(item, str) and item.strip().lower() == EPHEMERAL_POOL:
            raise reader.fail(
                k, f"'ephemeral' stands alone ({key}: ephemeral), not in a list of ranges"
            )
        if not isinstance(item, str) or item.count("-") != 1:
            raise reader.fail(k, f"expected a range 'LO-HI' or 'ephemeral', got {item!r}")
        lo_text, hi_text = item.split("-")
        try:
            lo, hi = int(lo_text), int(hi_text)
        except ValueError:
            raise reader.fail(k, f"expected a range 'LO-HI' or 'ephemeral', got {item!r}") from None
        if not 1 <= lo <= hi <= 65535:
            raise reader.fail(k, f"expected 1 <= LO <= HI <= 65535, got {item!r}")
        ranges.append((lo, hi))
    return tuple(ranges)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate a configuration file.

    Parameters
    ----------
    path : path-like or `None`
        The YAML file. `None`: the file named by ``$MOUNTCOMM_CONFIG`` if set,
        else the built-in defaults (equal to the shipped file, `default_text`).
        Keys missing from the file keep their defaults.

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, or a key is unknown or has a bad
        value; the message names the file and the dotted key.
    """
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            return Config()
        path = env
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{source}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{source}: not UTF-8 text: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None
    return from_dict(data or {}, source)


def from_dict(data: Any, source: str = "<dict>") -> Config:
    """Validate an already-parsed mapping (see `load`)."""
    r = _Reader(source)
    top = r.mapping(data, "", ("host", "roles", "telemetry", "registry", "simulator"))
    defaults = Config()
    kwargs: dict[str, Any] = {"source": source}
    if "host" in top:
        kwargs["host"] = r.text(top["host"], "host")
    if "roles" in top:
        roles = dict(defaults.roles)
        for role, ports in r.mapping(top["roles"], "roles", _ROLES).items():
            key = f"roles.{role}"
            p = r.mapping(ports, key, ("command_port", "reply_port"))
            if "command_port" not in p:
                raise r.fail(f"{key}.command_port", "required")
            command = r.port(p["command_port"], f"{key}.command_port")
            default_reply = command + 1 if command else 0
            reply = r.port(p.get("reply_port", default_reply), f"{key}.reply_port")
            roles[role] = RolePorts(command, reply)
        kwargs["roles"] = roles
    if "telemetry" in top:
        t = r.mapping(top["telemetry"], "telemetry", ("port", "rate_hz"))
        if "port" in t:
            kwargs["telemetry_port"] = r.port(t["port"], "telemetry.port")
        if "rate_hz" in t:
            kwargs["telemetry_rate_hz"] = r.number(t["rate_hz"], "telemetry.rate_hz", positive=True)
    if "registry" in top:
        g = r.mapping(
            top["registry"],
            "registry",
            ("host", "port", "pool", "unix_socket", "cluster", "advertise_host"),
        )
        if "host" in g:
            kwargs["registry_host"] = r.text(g["host"], "registry.host")
        if "port" in g:
            kwargs["registry_port"] = r.port(g["port"], "registry.port")
        if "pool" in g:
            kwargs["registry_pool"] = _pool(r, g["pool"], "registry.pool")
        if g.get("unix_socket") is not None:
            kwargs["registry_unix_socket"] = r.text(g["unix_socket"], "registry.unix_socket")
        if g.get("cluster") is not None:
            kwargs["registry_cluster"] = _cluster(r, g["cluster"], "registry.cluster")
        if g.get("advertise_host") is not None:
            kwargs["registry_advertise_host"] = r.text(
                g["advertise_host"], "registry.advertise_host"
            )
    if "simulator" in top:
        s = r.mapping(top["simulator"], "simulator", ("limits",))
        if "limits" in s:
            limits = {axis: dict(v) for axis, v in defaults.sim_limits.items()}
            for axis, values in r.mapping(s["limits"], "simulator.limits", _AXES).items():
                key = f"simulator.limits.{axis}"
                for name, value in r.mapping(values, key, _LIMIT_KEYS).items():
                    positive = name.startswith("max_")
                    limits[axis][name] = r.number(value, f"{key}.{name}", positive=positive)
                if limits[axis]["min"] >= limits[axis]["max"]:
                    raise r.fail(f"{key}", "min must be less than max")
            kwargs["sim_limits"] = limits
    return Config(**kwargs)


def to_dict(cfg: Config) -> dict[str, Any]:
    """Return ``cfg`` as the mapping a YAML file holds (`from_dict` reads it back)."""
    pool: Any = (
        EPHEMERAL_POOL
        if cfg.registry_pool is None
        else [f"{lo}-{hi}" for lo, hi in cfg.registry_pool]
    )
    return {
        "host": cfg.host,
        "roles": {
            role: {"command_port": p.command_port, "reply_port": p.reply_port}
            for role, p in cfg.roles.items()
        },
        "telemetry": {"port": cfg.telemetry_port, "rate_hz": cfg.telemetry_rate_hz},
        "registry": {
            "host": cfg.registry_host,
            "port": cfg.registry_port,
            "pool": pool,
            "unix_socket": cfg.registry_unix_socket,
        },
        "simulator": {"limits": {axis: dict(v) for axis, v in cfg.sim_limits.items()}},
    }
