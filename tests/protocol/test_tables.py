"""The enums and message classes against the tables of PROTOCOL.md.

The expected tables below are copied by hand from PROTOCOL.md, so that a change
to either side shows up here.
"""

from __future__ import annotations

from typing import Any

import pytest

from mountcomm.protocol import (
    ACK_ONLY_COMMANDS,
    CommandCode,
    ReplyCode,
    Source,
    SubsystemId,
    TelemetryTopicId,
    fields,
)
from mountcomm.protocol.commands import COMMANDS
from mountcomm.protocol.messages import MISSING, FieldInfo
from mountcomm.protocol.replies import REPLIES
from mountcomm.protocol.sequence import next_sequence_id

# fmt: off
COMMAND_CODES = {
    "MOVE_TO_TARGET": 1, "TRACK_TARGET": 2, "ENABLE_CAMERA_WRAP": 3, "DISABLE_CAMERA_WRAP": 4,
    "OPEN_MIRROR_COVER": 5, "CLOSE_MIRROR_COVER": 6, "STOP_MOUNT": 7, "START": 8, "STAND_BY": 9,
    "ENABLE": 10, "DISABLE": 11, "EXIT": 12, "CLEAR_ERRORS": 13, "ENTER_CONTROL": 14,
    "SYSTEM_READY": 15, "ENTER_PUBLISHONLY": 16,
    "BOTH_AXES_MOVE": 30, "BOTH_AXES_TRACK": 31, "BOTH_AXES_STOP": 32,
    "AZIMUTH_AXIS_POWER": 101, "AZIMUTH_AXIS_STOP": 102, "AZIMUTH_AXIS_MOVE": 103,
    "AZIMUTH_AXIS_MOVE_VELOCITY": 104, "AZIMUTH_AXIS_TRACK": 105, "AZIMUTH_AXIS_HOME": 106,
    "AZIMUTH_AXIS_RESET_ALARM": 107, "AZIMUTH_AXIS_ENABLE_TRACKING": 108,
    "AZIMUTH_AXIS_DRIVE_RESET": 201, "AZIMUTH_AXIS_DRIVE_ENABLE": 202,
    "AZIMUTH_CABLE_WRAP_POWER": 301, "AZIMUTH_CABLE_WRAP_STOP": 302,
    "AZIMUTH_CABLE_WRAP_MOVE": 303, "AZIMUTH_CABLE_WRAP_MOVE_VELOCITY": 304,
    "AZIMUTH_CABLE_WRAP_TRACK": 305, "AZIMUTH_CABLE_WRAP_RESET_ALARM": 306,
    "AZIMUTH_CABLE_WRAP_DRIVE_RESET": 307, "AZIMUTH_CABLE_WRAP_DRIVE_ENABLE": 308,
    "AZIMUTH_CABLE_WRAP_ENABLE_TRACKING": 309,
    "ELEVATION_AXIS_POWER": 401, "ELEVATION_AXIS_STOP": 402, "ELEVATION_AXIS_MOVE": 403,
    "ELEVATION_AXIS_MOVE_VELOCITY": 404, "ELEVATION_AXIS_TRACK": 405, "ELEVATION_AXIS_HOME": 406,
    "ELEVATION_AXIS_RESET_ALARM": 407, "ELEVATION_AXIS_ENABLE_TRACKING": 408,
    "ELEVATION_AXIS_DRIVE_RESET": 501, "ELEVATION_AXIS_DRIVE_ENABLE": 502,
    "MAIN_POWER_SUPPLY_POWER": 601, "MAIN_POWER_SUPPLY_RESET_ALARM": 602,
    "ENCODER_INTERFACE_BOX_POWER": 701, "ENCODER_INTERFACE_BOX_REFERENCE": 702,
    "ENCODER_INTERFACE_BOX_RESET": 703, "ENCODER_INTERFACE_BOX_RESET_ERROR": 704,
    "ENCODER_INTERFACE_BOX_CLEAR_POSITION_ERROR": 705, "ENCODER_INTERFACE_BOX_EXIT": 706,
    "OIL_SUPPLY_SYSTEM_POWER": 801, "OIL_SUPPLY_SYSTEM_POWER_COOLING": 802,
    "OIL_SUPPLY_SYSTEM_POWER_OIL": 803, "OIL_SUPPLY_SYSTEM_POWER_MAIN_PUMP": 804,
    "OIL_SUPPLY_SYSTEM_RESET_ALARM": 805,
    "MIRROR_COVERS_POWER": 901, "MIRROR_COVERS_STOP": 902, "MIRROR_COVERS_MOVE": 903,
    "MIRROR_COVERS_MOVE_VELOCITY": 904, "MIRROR_COVERS_DEPLOY": 905,
    "MIRROR_COVERS_RETRACT": 906, "MIRROR_COVERS_RESET_ALARM": 907,
    "CAMERA_CABLE_WRAP_POWER": 1001, "CAMERA_CABLE_WRAP_STOP": 1002,
    "CAMERA_CABLE_WRAP_MOVE": 1003, "CAMERA_CABLE_WRAP_TRACK": 1004,
    "CAMERA_CABLE_WRAP_RESET_ALARM": 1005, "CAMERA_CABLE_WRAP_DRIVE_ENABLE": 1006,
    "CAMERA_CABLE_WRAP_DRIVE_RESET": 1007, "CAMERA_CABLE_WRAP_MOVE_VELOCITY": 1008,
    "CAMERA_CABLE_WRAP_ENABLE_TRACKING": 1009,
    "BALANCE_POWER": 1101, "BALANCE_STOP": 1102, "BALANCE_MOVE": 1103,
    "BALANCE_RESET_ALARM": 1104,
    "DEPLOYABLE_PLATFORM_POWER": 1201, "DEPLOYABLE_PLATFORM_STOP": 1202,
    "DEPLOYABLE_PLATFORM_MOVE_VELOCITY": 1204, "DEPLOYABLE_PLATFORM_RESET_ALARM": 1205,
    "DEPLOYABLE_PLATFORM_LOCK_EXTENSION": 1206,
    "CABINET_TRACK_AMBIENT": 1301, "CABINET_RESET_ALARM": 1302,
    "LOCKING_PINS_POWER": 1401, "LOCKING_PINS_STOP": 1402, "LOCKING_PINS_MOVE": 1403,
    "LOCKING_PINS_MOVE_VELOCITY": 1404, "LOCKING_PINS_RESET_ALARM": 1405,
    "LOCKING_PINS_MOVE_ALL": 1406,
    "MIRROR_COVER_LOCKS_POWER": 1501, "MIRROR_COVER_LOCKS_STOP": 1502,
    "MIRROR_COVER_LOCKS_MOVE": 1503, "MIRROR_COVER_LOCKS_MOVE_VELOCITY": 1504,
    "MIRROR_COVER_LOCKS_RESET_ALARM": 1505, "MIRROR_COVER_LOCKS_MOVE_ALL": 1506,
    "AZIMUTH_THERMAL_POWER": 1601, "AZIMUTH_THERMAL_TRACK_AMBIENT": 1602,
    "AZIMUTH_THERMAL_RESET_ALARM": 1603,
    "ELEVATION_THERMAL_POWER": 1701, "ELEVATION_THERMAL_TRACK_AMBIENT": 1702,
    "ELEVATION_THERMAL_RESET_ALARM": 1703,
    "SAFETY_RESET": 1801, "OVERRIDE_CAUSES": 1802,
    "STATE_INFO": 2001, "APPLICATION_EXIT": 2002,
    "ASK_FOR_COMMAND": 2101,
    "TOP_END_CHILLER_POWER": 2201, "TOP_END_CHILLER_TRACK_AMBIENT": 2202,
    "TOP_END_CHILLER_RESET_ALARM": 2203,
    "TRANSFER_FUNCTION_AZIMUTH_EXCITATION": 2301, "TRANSFER_FUNCTION_ELEVATION_EXCITATION": 2302,
    "ASK_FOR_SET_OF_SETTINGS": 2401,
    "PXI_COMMAND_DONE": -1, "ERROR": -100,
}
# fmt: on

REPLY_CODES = {
    "ACK": 0,
    "NOACK": 1,
    "DONE": 2,
    "ERROR": 3,
    "WARNING": 4,
    "ON_STATE_INFO": 5,
    "IN_POSITION": 6,
}
SOURCES = {"NONE": 0, "CSC": 1, "EUI": 2, "HHD": 3, "PXI": 100}
SUBSYSTEMS = {
    "AZIMUTH_AXIS": 100,
    "AZIMUTH_DRIVE": 200,
    "AZIMUTH_CABLE_WRAP": 300,
    "ELEVATION_AXIS": 400,
    "ELEVATION_DRIVE": 500,
    "MAIN_POWER_SUPPLY": 600,
    "ENCODER_INTERFACE_BOX": 700,
    "OIL_SUPPLY_SYSTEM": 800,
    "MIRROR_COVERS": 900,
    "CAMERA_CABLE_WRAP": 1000,
    "BALANCE": 1100,
    "DEPLOYABLE_PLATFORM": 1200,
    "CABINET": 1300,
    "LOCKING_PINS": 1400,
    "MIRROR_COVER_LOCKS": 1500,
    "AZIMUTH_THERMAL": 1600,
    "ELEVATION_THERMAL": 1700,
    "INTERLOCK": 1800,
    "TOP_END_CHILLER": 2200,
}
TELEMETRY_TOPICS = {
    "AZIMUTH": 6,
    "AZIMUTH_DRIVE": 5,
    "ELEVATION": 15,
    "ELEVATION_DRIVE": 14,
    "CAMERA_CABLE_WRAP": 8,
}
ACK_ONLY = {
    "BOTH_AXES_TRACK",
    "AZIMUTH_AXIS_TRACK",
    "ELEVATION_AXIS_TRACK",
    "AZIMUTH_CABLE_WRAP_TRACK",
    "CAMERA_CABLE_WRAP_TRACK",
}

# --- parameters: (name, kind, default) with REQ for "no default" -------------------

REQ = MISSING
ANY = object()
"""The table gives no default: any default (or none) is accepted."""
Param = tuple[str, str, Any]

ONOFF: list[Param] = [("on", "bool", REQ)]
MOVE: list[Param] = [
    ("position", "float", REQ),
    ("velocity", "float", 0.0),
    ("acceleration", "float", 0.0),
    ("jerk", "float", 0.0),
]
TRACK: list[Param] = [("position", "float", REQ), ("velocity", "float", REQ), ("tai", "float", REQ)]
DRIVE: list[Param] = [("drive", "int", -1)]
REQUIRED_DRIVE: list[Param] = [("drive", "int", REQ)]

COMMAND_PARAMETERS: dict[str, list[Param]] = {
    "ENABLE": [],
    "DISABLE": [],
    "BOTH_AXES_MOVE": [
        ("azimuth", "float", REQ),
        ("elevation", "float", REQ),
        ("azimuth_velocity", "float", 0.0),
        ("elevation_velocity", "float", 0.0),
        ("negate_azimuth", "int", 0),
    ],
    "BOTH_AXES_TRACK": [
        ("azimuth", "float", REQ),
        ("elevation", "float", REQ),
        ("azimuth_velocity", "float", REQ),
        ("elevation_velocity", "float", REQ),
        ("negate_azimuth", "int", 0),
        ("tai", "float", REQ),
    ],
    "BOTH_AXES_STOP": [],
    "AZIMUTH_AXIS_POWER": ONOFF,
    "AZIMUTH_AXIS_STOP": [],
    "AZIMUTH_AXIS_MOVE": MOVE,
    "AZIMUTH_AXIS_TRACK": TRACK,
    "AZIMUTH_AXIS_HOME": [],
    "AZIMUTH_AXIS_RESET_ALARM": [],
    "AZIMUTH_AXIS_ENABLE_TRACKING": ONOFF,
    "AZIMUTH_AXIS_DRIVE_RESET": DRIVE,
    "AZIMUTH_AXIS_DRIVE_ENABLE": DRIVE + ONOFF,
    "ELEVATION_AXIS_POWER": ONOFF,
    "ELEVATION_AXIS_STOP": [],
    "ELEVATION_AXIS_MOVE": MOVE,
    "ELEVATION_AXIS_TRACK": TRACK,
    "ELEVATION_AXIS_HOME": [],
    "ELEVATION_AXIS_RESET_ALARM": [],
    "ELEVATION_AXIS_ENABLE_TRACKING": ONOFF,
    "ELEVATION_AXIS_DRIVE_RESET": DRIVE,
    "ELEVATION_AXIS_DRIVE_ENABLE": DRIVE + ONOFF,
    "MAIN_POWER_SUPPLY_POWER": ONOFF,
    "MAIN_POWER_SUPPLY_RESET_ALARM": [],
    "OIL_SUPPLY_SYSTEM_POWER": ONOFF,
    "OIL_SUPPLY_SYSTEM_POWER_COOLING": ONOFF,
    "OIL_SUPPLY_SYSTEM_POWER_OIL": ONOFF,
    "OIL_SUPPLY_SYSTEM_POWER_MAIN_PUMP": ONOFF,
    "OIL_SUPPLY_SYSTEM_RESET_ALARM": [],
    "MIRROR_COVERS_POWER": DRIVE + ONOFF,
    "MIRROR_COVERS_STOP": DRIVE,
    "MIRROR_COVERS_DEPLOY": DRIVE,
    "MIRROR_COVERS_RETRACT": DRIVE,
    "MIRROR_COVERS_RESET_ALARM": DRIVE,
    "CAMERA_CABLE_WRAP_POWER": ONOFF,
    "CAMERA_CABLE_WRAP_STOP": [],
    "CAMERA_CABLE_WRAP_MOVE": MOVE,
    "CAMERA_CABLE_WRAP_TRACK": TRACK,
    "CAMERA_CABLE_WRAP_RESET_ALARM": [],
    "CAMERA_CABLE_WRAP_DRIVE_ENABLE": REQUIRED_DRIVE + ONOFF,
    "CAMERA_CABLE_WRAP_DRIVE_RESET": REQUIRED_DRIVE,
    "CAMERA_CABLE_WRAP_ENABLE_TRACKING": ONOFF,
    "MIRROR_COVER_LOCKS_POWER": DRIVE + ONOFF,
    "MIRROR_COVER_LOCKS_STOP": DRIVE,
    "MIRROR_COVER_LOCKS_RESET_ALARM": DRIVE,
    "MIRROR_COVER_LOCKS_MOVE_ALL": [*DRIVE, ("deploy", "bool", REQ)],
    "SAFETY_RESET": [],
    "ASK_FOR_COMMAND": [("commander", "Source", Source.CSC)],
    "TOP_END_CHILLER_POWER": ONOFF,
    "TOP_END_CHILLER_TRACK_AMBIENT": [*ONOFF, ("temperature", "float", REQ)],
    "TOP_END_CHILLER_RESET_ALARM": [],
}

COMMAND_HEADER: list[Param] = [
    ("sequence_id", "int", ANY),
    ("source", "Source", ANY),
    ("timestamp", "timestamp", ANY),
]

COMMAND_REPLY_HEADER: list[Param] = [
    ("sequence_id", "int", REQ),
    ("source", "Source", Source.CSC),
    ("timestamp", "timestamp", ANY),
]
REPLY_FIELDS: dict[str, list[Param]] = {
    "ACK": [*COMMAND_REPLY_HEADER, ("timeout_ms", "int_empty_is_default", 0)],
    "NOACK": [*COMMAND_REPLY_HEADER, ("explanation", "str", ANY)],
    "DONE": COMMAND_REPLY_HEADER,
    "ERROR": [
        ("on", "bool", REQ),
        ("active", "bool", REQ),
        ("code", "int", REQ),
        ("subsystem", "str", REQ),
        ("timestamp", "timestamp", ANY),
        ("extra_data", "extra_str", ()),
    ],
    "WARNING": [
        ("active", "bool", REQ),
        ("code", "int", REQ),
        ("subsystem", "str", REQ),
        ("timestamp", "timestamp", ANY),
        ("extra_data", "extra_str", ()),
    ],
    "ON_STATE_INFO": [("timestamp", "timestamp", ANY), ("description", "str", REQ)],
    "IN_POSITION": [
        ("timestamp", "timestamp", ANY),
        ("what", "int", REQ),
        ("in_position", "bool", REQ),
    ],
}

REPLY_CLASS_NAMES = {
    "ACK": "AckReply",
    "NOACK": "NoAckReply",
    "DONE": "DoneReply",
    "ERROR": "ErrorReply",
    "WARNING": "WarningReply",
    "ON_STATE_INFO": "OnStateInfoReply",
    "IN_POSITION": "InPositionReply",
}


def camel_case(code_name: str) -> str:
    return "".join(word.capitalize() for word in code_name.split("_"))


def kind_label(kind: fields.FieldKind) -> str:
    if isinstance(kind, fields.EnumKind):
        return kind.enum_class.__name__
    labels: dict[type[fields.FieldKind], str] = {
        fields.BoolKind: "bool",
        fields.IntKind: "int",
        fields.IntEmptyIsDefaultKind: "int_empty_is_default",
        fields.FloatKind: "float",
        fields.TimestampKind: "timestamp",
        fields.StrKind: "str",
        fields.ExtraStrKind: "extra_str",
    }
    return labels[type(kind)]


def describe(infos: tuple[FieldInfo, ...], expected: list[Param]) -> list[Param]:
    """The fields as (name, kind, default), with ANY where the table gives no default."""
    out: list[Param] = []
    for i, info in enumerate(infos):
        any_default = i < len(expected) and expected[i][2] is ANY
        out.append((info.name, kind_label(info.kind), ANY if any_default else info.default))
    return out


def check_default_types(infos: tuple[FieldInfo, ...], expected: list[Param]) -> None:
    """A default equal to the table's must also have its type (0.0 not 0, CSC not 1)."""
    for info, (_, _, want) in zip(infos, expected, strict=True):
        if want is not ANY and want is not REQ:
            assert type(info.default) is type(want), info.name


# --- enums ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum_class", "expected"),
    [
        (CommandCode, COMMAND_CODES),
        (ReplyCode, REPLY_CODES),
        (Source, SOURCES),
        (SubsystemId, SUBSYSTEMS),
        (TelemetryTopicId, TELEMETRY_TOPICS),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_enum_matches_protocol(enum_class: Any, expected: dict[str, int]) -> None:
    assert {m.name: m.value for m in enum_class} == expected


def test_ack_only_commands() -> None:
    assert {c.name for c in ACK_ONLY_COMMANDS} == ACK_ONLY
    for code, cls in COMMANDS.items():
        assert cls.ack_only == (code.name in ACK_ONLY), cls.__name__


# --- command classes ------------------------------------------------------------


@pytest.mark.parametrize("code_name", sorted(COMMAND_PARAMETERS))
def test_parameterised_command_has_class(code_name: str) -> None:
    code = CommandCode[code_name]
    assert code in COMMANDS, f"{code_name} has no message class"
    cls = COMMANDS[code]
    assert cls.__name__ == camel_case(code_name)
    assert cls.command_code is code
    expected = COMMAND_HEADER + COMMAND_PARAMETERS[code_name]
    assert describe(cls.field_infos, expected) == expected
    check_default_types(cls.field_infos, expected)


@pytest.mark.parametrize("cls", COMMANDS.values(), ids=lambda cls: cls.__name__)
def test_every_command_class_is_named_after_its_code(cls: Any) -> None:
    assert cls.__name__ == camel_case(cls.command_code.name)
    assert COMMANDS[cls.command_code] is cls
    timestamp = cls.field_infos[2]
    assert timestamp.default_factory is not None  # "now" at construction


def test_command_header_defaults() -> None:
    cls = COMMANDS[CommandCode.ENABLE]
    sequence_id, source, _ = cls.field_infos
    assert sequence_id.default_factory is next_sequence_id  # drawn at construction
    assert source.default is Source.CSC


# --- reply classes --------------------------------------------------------------


@pytest.mark.parametrize("code_name", sorted(REPLY_FIELDS))
def test_reply_class(code_name: str) -> None:
    code = ReplyCode[code_name]
    cls = REPLIES[code]
    assert cls.__name__ == REPLY_CLASS_NAMES[code_name]
    assert cls.reply_code is code
    expected = REPLY_FIELDS[code_name]
    assert describe(cls.field_infos, expected) == expected
    check_default_types(cls.field_infos, expected)


def test_every_reply_code_has_a_class() -> None:
    assert set(REPLIES) == set(ReplyCode)


def test_ack_timeout_empty_means_zero() -> None:
    (timeout_ms,) = [i for i in REPLIES[ReplyCode.ACK].field_infos if i.name == "timeout_ms"]
    assert isinstance(timeout_ms.kind, fields.IntEmptyIsDefaultKind)
    assert timeout_ms.kind.default == 0
    others = [
        info
        for cls in [*COMMANDS.values(), *REPLIES.values()]
        for info in cls.field_infos
        if isinstance(info.kind, fields.IntEmptyIsDefaultKind) and info is not timeout_ms
    ]
    assert others == []  # only AckReply.timeout_ms
