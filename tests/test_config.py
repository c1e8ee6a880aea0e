"""`mountcomm.config.load`: the shipped file, overrides, and errors that name file and key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from mountcomm import config
from mountcomm.config import Config, ConfigError, RolePorts
from mountcomm.exceptions import MountcommError
from mountcomm.registry.server import RegistryServer
from mountcomm.registry.store import format_pool, parse_pool

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "mountcomm.yaml"


@pytest.fixture(autouse=True)
def no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own $MOUNTCOMM_CONFIG must not leak into these tests."""
    monkeypatch.delenv(config.ENV_VAR, raising=False)


def write(tmp_path: Path, text: str, name: str = "mountcomm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_equals_builtin_defaults() -> None:
    loaded = config.load(SHIPPED)
    assert loaded.source == str(SHIPPED)
    assert dataclasses.replace(loaded, source=Config().source) == Config()


def test_repository_copy_equals_the_packaged_file() -> None:
    """``config/mountcomm.yaml`` is a copy of the file the package ships."""
    assert SHIPPED.read_text(encoding="utf-8") == config.default_text()


def test_packaged_file_equals_builtin_defaults() -> None:
    loaded = config.from_dict(yaml.safe_load(config.default_text()), "packaged")
    assert dataclasses.replace(loaded, source=Config().source) == Config()


def test_config_error_is_a_mountcomm_error(tmp_path: Path) -> None:
    assert issubclass(ConfigError, MountcommError) and issubclass(ConfigError, ValueError)
    with pytest.raises(MountcommError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")


def test_builtin_defaults_are_the_conventional_values() -> None:
    cfg = config.load()
    assert cfg == Config()
    assert cfg.source == "<built-in defaults>"
    assert cfg.roles == {
        "csc": RolePorts(50005, 50006),
        "eui": RolePorts(60005, 60006),
        "hhd": RolePorts(40005, 40006),
    }
    assert cfg.telemetry_port == 50035
    assert cfg.registry_port == 30000


def test_empty_file_keeps_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing set\n")
    assert config.load(path) == dataclasses.replace(Config(), source=str(path))


def test_partial_file_overrides_only_its_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "roles:\n  eui: {command_port: 7000}\n"
        "telemetry: {rate_hz: 2}\n"
        "registry: {pool: ['40000-40010', '41000-41000'], unix_socket: '@mountcomm'}\n"
        "simulator: {limits: {azimuth: {max_velocity: 1.5}}}\n",
    )
    cfg = config.load(path)
    assert cfg.roles["eui"] == RolePorts(7000, 7001)  # reply port defaults to command + 1
    assert cfg.roles["csc"] == RolePorts(50005, 50006)
    assert cfg.telemetry_rate_hz == 2.0
    assert isinstance(cfg.telemetry_rate_hz, float)
    assert cfg.telemetry_port == 50035
    assert cfg.registry_pool == ((40000, 40010), (41000, 41000))
    assert cfg.registry_unix_socket == "@mountcomm"
    assert cfg.sim_limits["azimuth"] == {
        "min": -270.0,
        "max": 270.0,
        "max_velocity": 1.5,
        "max_acceleration": 7.0,
    }
    assert cfg.sim_limits["elevation"] == Config().sim_limits["elevation"]
    assert Config().sim_limits["azimuth"]["max_velocity"] == 7.0  # defaults not mutated


def test_port_zero_means_os_picks(tmp_path: Path) -> None:
    path = write(tmp_path, "roles: {csc: {command_port: 0}}\ntelemetry: {port: 0}\n")
    cfg = config.load(path)
    assert cfg.roles["csc"] == RolePorts(0, 0)  # no "+1" on an unknown port
    assert cfg.telemetry_port == 0


def test_pool_may_be_a_single_string(tmp_path: Path) -> None:
    path = write(tmp_path, "registry: {pool: '20000-20099'}\n")
    assert config.load(path).registry_pool == ((20000, 20099),)


@pytest.mark.parametrize("word", ["ephemeral", "Ephemeral", " ephemeral "])
def test_pool_ephemeral_means_the_os_picks(tmp_path: Path, word: str) -> None:
    path = write(tmp_path, f"registry: {{pool: '{word}'}}\n")
    cfg = config.load(path)
    assert cfg.registry_pool is None  # what RegistryServer(pool=None) takes
    assert format_pool(cfg.registry_pool) == "ephemeral"
    assert cfg.registry_pool == parse_pool("ephemeral")  # same as --pool ephemeral


def test_pool_ephemeral_as_bare_yaml_word(tmp_path: Path) -> None:
    path = write(tmp_path, "registry:\n  pool: ephemeral\n")
    assert config.load(path).registry_pool is None


def test_pool_ephemeral_starts_a_server_without_pool(tmp_path: Path) -> None:
    path = write(tmp_path, "registry: {pool: ephemeral}\n")
    server = RegistryServer("127.0.0.1", 0, pool=config.load(path).registry_pool)
    assert server.store.pool is None


def test_path_like_and_str_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "host: 10.0.0.1\n")
    assert config.load(path).host == "10.0.0.1"
    assert config.load(str(path)).host == "10.0.0.1"


# --- $MOUNTCOMM_CONFIG ------------------------------------------------------------


def test_env_var_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "telemetry: {port: 51234}\n")
    monkeypatch.setenv("MOUNTCOMM_CONFIG", str(path))
    cfg = config.load()
    assert cfg.telemetry_port == 51234
    assert cfg.source == str(path)


def test_explicit_path_wins_over_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write(tmp_path, "telemetry: {port: 51234}\n", "env.yaml")
    monkeypatch.setenv("MOUNTCOMM_CONFIG", str(env_file))
    assert config.load(SHIPPED).telemetry_port == 50035


def test_empty_env_var_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOUNTCOMM_CONFIG", "")
    assert config.load() == Config()


def test_env_var_naming_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("MOUNTCOMM_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        config.load()


# --- errors -----------------------------------------------------------------------

BAD_FILES = [
    # (file text, dotted key the message must name)
    ("colour: red\n", "colour"),
    ("roles: {csc: {command_port: 1, foo: 2}}\n", "roles.csc.foo"),
    ("roles: {xyz: {command_port: 1}}\n", "roles.xyz"),
    ("roles: {csc: {reply_port: 1}}\n", "roles.csc.command_port"),
    ("roles: {csc: 50005}\n", "roles.csc"),
    ("roles: [csc]\n", "roles"),
    ("roles: {csc: {command_port: 70000}}\n", "roles.csc.command_port"),
    ("roles: {csc: {command_port: 1, reply_port: -1}}\n", "roles.csc.reply_port"),
    ("roles: {csc: {command_port: 65535}}\n", "roles.csc.reply_port"),  # 65535 + 1
    ("telemetry: {port: 65536}\n", "telemetry.port"),
    ("telemetry: {port: '50035'}\n", "telemetry.port"),
    ("telemetry: {port: true}\n", "telemetry.port"),
    ("telemetry: {port: 5.5}\n", "telemetry.port"),
    ("telemetry: {port: null}\n", "telemetry.port"),
    ("telemetry: {rate_hz: 0}\n", "telemetry.rate_hz"),
    ("telemetry: {rate_hz: -1}\n", "telemetry.rate_hz"),
    ("telemetry: {rate_hz: fast}\n", "telemetry.rate_hz"),
    ("telemetry: {rate_hz: .nan}\n", "telemetry.rate_hz"),
    ("telemetry: {rate_hz: .inf}\n", "telemetry.rate_hz"),
    ("telemetry: {rate: 10}\n", "telemetry.rate"),
    ("registry: {port: -1}\n", "registry.port"),
    ("registry: {pool: ['30001-30999', 'abc']}\n", r"registry.pool\[1\]"),
    ("registry: {pool: ['200-100']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['0-100']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['1-70000']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['1-2-3']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['x-y']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: 30001}\n", r"registry.pool\[0\]"),
    ("registry: {pool: [[30001, 30999]]}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['ephemeral']}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ['30001-30999', ephemeral]}\n", r"registry.pool\[1\]"),
    ("registry: {pool: []}\n", "registry.pool"),
    ("registry: {pool: null}\n", r"registry.pool\[0\]"),
    ("registry: {pool: ephemera}\n", r"registry.pool\[0\]"),
    ("registry: {host: ''}\n", "registry.host"),
    ("registry: {unix_socket: 5}\n", "registry.unix_socket"),
    ("host: 5\n", "host"),
    ("host: ''\n", "host"),
    ("simulator: {limits: {azimuth: {min: 10, max: 10}}}\n", "simulator.limits.azimuth"),
    ("simulator: {limits: {elevation: {min: 90}}}\n", "simulator.limits.elevation"),
    (
        "simulator: {limits: {azimuth: {max_velocity: 0}}}\n",
        "simulator.limits.azimuth.max_velocity",
    ),
    (
        "simulator: {limits: {camera_cable_wrap: {max_acceleration: -1.0}}}\n",
        "simulator.limits.camera_cable_wrap.max_acceleration",
    ),
    ("simulator: {limits: {azimuth: {min: .nan}}}\n", "simulator.limits.azimuth.min"),
    ("simulator: {limits: {azimuth: {max: yes}}}\n", "simulator.limits.azimuth.max"),
    ("simulator: {limits: {rotator: {}}}\n", "simulator.limits.rotator"),
    ("simulator: {limit: {}}\n", "simulator.limit"),
    ("- a\n- b\n", r"\(top level\)"),
]


@pytest.mark.parametrize(("text", "key"), BAD_FILES)
def test_bad_value_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {key}: ") as excinfo:
        config.load(path)
    assert isinstance(excinfo.value, ValueError)


def test_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "telemetry: {rate: 10}\n")
    with pytest.raises(ConfigError, match=r"unknown key; expected one of \['port', 'rate_hz'\]"):
        config.load(path)


@pytest.mark.parametrize("text", ["roles: [\n", "a: b: c\n", "key: 'unterminated\n", "\t- tab\n"])
def test_bad_yaml(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        config.load(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: cannot read: No such file"):
        config.load(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path))}: cannot read"):
        config.load(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"host: \xff\xfe\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not UTF-8"):
        config.load(path)


def test_errors_do_not_chain_internal_exceptions(tmp_path: Path) -> None:
    path = write(tmp_path, "roles: [\n")
    with pytest.raises(ConfigError) as excinfo:
        config.load(path)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__
