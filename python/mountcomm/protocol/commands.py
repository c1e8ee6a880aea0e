"""Command messages: one class per parameterised command of PROTOCOL.md.

Every command starts with four header fields (``sequence_id``, the command code,
``source``, ``timestamp``) followed by its parameters. Class names are the
CamelCase of the code names (``ELEVATION_AXIS_MOVE`` → `ElevationAxisMove`).

A command built without ``sequence_id`` takes the next id of the process-wide
generator (`mountcomm.protocol.sequence.next_sequence_id`, which starts at a
random id), as in the original mount classes, so that a command written
directly through a `Communicator` has a usable id. An explicit ``sequence_id``
is kept as given. `MountClient` sets the id of every command it sends from its
own per-connection generator.
"""

from __future__ import annotations

__all__ = [
    "COMMANDS",
    "AckOnlyCommandCodes",
    "AskForCommand",
    "AzimuthAxisDriveEnable",
    "AzimuthAxisDriveReset",
    "AzimuthAxisEnableTracking",
    "AzimuthAxisHome",
    "AzimuthAxisMove",
    "AzimuthAxisPower",
    "AzimuthAxisResetAlarm",
    "AzimuthAxisStop",
    "AzimuthAxisTrack",
    "BothAxesMove",
    "BothAxesStop",
    "BothAxesTrack",
    "CameraCableWrapDriveEnable",
    "CameraCableWrapDriveReset",
    "CameraCableWrapEnableTracking",
    "CameraCableWrapMove",
    "CameraCableWrapPower",
    "CameraCableWrapResetAlarm",
    "CameraCableWrapStop",
    "CameraCableWrapTrack",
    "Command",
    "CommandDict",
    "Commands",
    "Disable",
    "ElevationAxisDriveEnable",
    "ElevationAxisDriveReset",
    "ElevationAxisEnableTracking",
    "ElevationAxisHome",
    "ElevationAxisMove",
    "ElevationAxisPower",
    "ElevationAxisResetAlarm",
    "ElevationAxisStop",
    "ElevationAxisTrack",
    "Enable",
    "MainPowerSupplyPower",
    "MainPowerSupplyResetAlarm",
    "MirrorCoverLocksMoveAll",
    "MirrorCoverLocksPower",
    "MirrorCoverLocksResetAlarm",
    "MirrorCoverLocksStop",
    "MirrorCoversDeploy",
    "MirrorCoversPower",
    "MirrorCoversResetAlarm",
    "MirrorCoversRetract",
    "MirrorCoversStop",
    "OilSupplySystemPower",
    "OilSupplySystemPowerCooling",
    "OilSupplySystemPowerMainPump",
    "OilSupplySystemPowerOil",
    "OilSupplySystemResetAlarm",
    "SafetyReset",
    "TopEndChillerPower",
    "TopEndChillerResetAlarm",
    "TopEndChillerTrackAmbient",
    "command_class",
    "parse_command",
]

import time
from typing import Any, ClassVar

from ..exceptions import ProtocolError
from .enums import ACK_ONLY_COMMANDS, CommandCode, Source
from .fields import BOOL, FLOAT, INT, TIMESTAMP, EnumKind
from .messages import Message, field
from .sequence import next_sequence_id

SOURCE = EnumKind(Source)


class Command(Message):
    """Base class of commands (abstract).

    Attributes
    ----------
    command_code : `CommandCode`
        The command code (class attribute).
    ack_only : `bool`
        True if the command is complete when acknowledged (class attribute).
    """

    __slots__ = ()
    _abstract = True
    _code_index = 1
    _code_attr = "command_code"
    command_code: ClassVar[CommandCode]
    ack_only: ClassVar[bool] = False

    sequence_id: int = field(
        INT,
        default_factory=next_sequence_id,
        doc="Sequence id; default: the next id of the process-wide generator.",
    )
    source: Source = field(SOURCE, default=Source.CSC, doc="Who sends the command.")
    timestamp: float = field(TIMESTAMP, default_factory=time.time, doc="When sent [UTC unix s].")

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.ack_only = getattr(cls, "command_code", None) in ACK_ONLY_COMMANDS

    @classmethod
    def from_fields(cls, fields: list[str]) -> Any:
        """Parse wire fields (code included) into a command.

        On `Command` itself, the class is chosen by the code (as `parse_command`);
        on a command class, the fields must be of that command.

        Raises
        ------
        ProtocolError
            If the fields do not describe a valid command (of this class).
        """
        if cls is Command:
            return parse_command(fields)
        return cls._parse_fields(fields)


# --- parameter groups of PROTOCOL.md (abstract bases) -------------------------------


class _OnOff(Command):
    """Parameter group "onoff"."""

    __slots__ = ()
    _abstract = True
    on: bool = field(BOOL, doc="On (true) or off (false).")


class _Move(Command):
    """Parameter group "move"."""

    __slots__ = ()
    _abstract = True
    position: float = field(FLOAT, doc="Target position [deg].")
    velocity: float = field(FLOAT, default=0.0, doc="Velocity [deg/s]; 0: controller default.")
    acceleration: float = field(
        FLOAT, default=0.0, doc="Acceleration [deg/s²]; 0: controller default."
    )
    jerk: float = field(FLOAT, default=0.0, doc="Jerk [deg/s³]; 0: controller default.")


class _Track(Command):
    """Parameter group "track"."""

    __slots__ = ()
    _abstract = True
    position: float = field(FLOAT, doc="Position at tai [deg].")
    velocity: float = field(FLOAT, doc="Velocity at tai [deg/s].")
    tai: float = field(FLOAT, doc="Time of the target [TAI unix s].")


class _Drive(Command):
    """Parameter group "drive"."""

    __slots__ = ()
    _abstract = True
    drive: int = field(INT, default=-1, doc="Drive index; -1: all drives.")


class _DriveOnOff(_Drive):
    """Parameter groups "drive" and "onoff"."""

    __slots__ = ()
    _abstract = True
    on: bool = field(BOOL, doc="On (true) or off (false).")


class _RequiredDrive(Command):
    """A drive index that must be given."""

    __slots__ = ()
    _abstract = True
    drive: int = field(INT, doc="Drive index.")


# --- generic commands --------------------------------------------------------------


class Enable(Command):
    """Enable the mount (the controller starts normal operation)."""

    command_code = CommandCode.ENABLE


class Disable(Command):
    """Disable the mount."""

    command_code = CommandCode.DISABLE


class SafetyReset(Command):
    """Reset the safety system (interlocks)."""

    command_code = CommandCode.SAFETY_RESET


class AskForCommand(Command):
    """Ask the controller to give command to ``commander``."""

    command_code = CommandCode.ASK_FOR_COMMAND
    commander: Source = field(SOURCE, default=Source.CSC, doc="Who should get command.")


# --- both axes ------------------------------------------------------------------


class BothAxesMove(Command):
    """Move azimuth and elevation to a point."""

    command_code = CommandCode.BOTH_AXES_MOVE
    azimuth: float = field(FLOAT, doc="Azimuth target [deg].")
    elevation: float = field(FLOAT, doc="Elevation target [deg].")
    azimuth_velocity: float = field(FLOAT, default=0.0, doc="Azimuth velocity [deg/s]; 0: default.")
    elevation_velocity: float = field(
        FLOAT, default=0.0, doc="Elevation velocity [deg/s]; 0: default."
    )
    negate_azimuth: int = field(INT, default=0, doc="Negate azimuth (legacy flag).")


class BothAxesTrack(Command):
    """Track a target on both axes (complete on ACK)."""

    command_code = CommandCode.BOTH_AXES_TRACK
    azimuth: float = field(FLOAT, doc="Azimuth at tai [deg].")
    elevation: float = field(FLOAT, doc="Elevation at tai [deg].")
    azimuth_velocity: float = field(FLOAT, doc="Azimuth velocity at tai [deg/s].")
    elevation_velocity: float = field(FLOAT, doc="Elevation velocity at tai [deg/s].")
    negate_azimuth: int = field(INT, default=0, doc="Negate azimuth (legacy flag).")
    tai: float = field(FLOAT, doc="Time of the target [TAI unix s].")


class BothAxesStop(Command):
    """Stop both axes."""

    command_code = CommandCode.BOTH_AXES_STOP


# --- one axis: azimuth, elevation, camera cable wrap --------------------------------


class AzimuthAxisPower(_OnOff):
    """Power the azimuth axis on or off."""

    command_code = CommandCode.AZIMUTH_AXIS_POWER


class AzimuthAxisStop(Command):
    """Stop the azimuth axis."""

    command_code = CommandCode.AZIMUTH_AXIS_STOP


class AzimuthAxisMove(_Move):
    """Move the azimuth axis to a position."""

    command_code = CommandCode.AZIMUTH_AXIS_MOVE


class AzimuthAxisTrack(_Track):
    """Set the azimuth tracking target (complete on ACK)."""

    command_code = CommandCode.AZIMUTH_AXIS_TRACK


class AzimuthAxisHome(Command):
    """Home the azimuth axis."""

    command_code = CommandCode.AZIMUTH_AXIS_HOME


class AzimuthAxisResetAlarm(Command):
    """Reset azimuth axis alarms."""

    command_code = CommandCode.AZIMUTH_AXIS_RESET_ALARM


class AzimuthAxisEnableTracking(_OnOff):
    """Enable or disable azimuth tracking mode."""

    command_code = CommandCode.AZIMUTH_AXIS_ENABLE_TRACKING


class AzimuthAxisDriveReset(_Drive):
    """Reset azimuth drives."""

    command_code = CommandCode.AZIMUTH_AXIS_DRIVE_RESET


class AzimuthAxisDriveEnable(_DriveOnOff):
    """Enable or disable azimuth drives."""

    command_code = CommandCode.AZIMUTH_AXIS_DRIVE_ENABLE


class ElevationAxisPower(_OnOff):
    """Power the elevation axis on or off."""

    command_code = CommandCode.ELEVATION_AXIS_POWER


class ElevationAxisStop(Command):
    """Stop the elevation axis."""

    command_code = CommandCode.ELEVATION_AXIS_STOP


class ElevationAxisMove(_Move):
    """Move the elevation axis to a position."""

    command_code = CommandCode.ELEVATION_AXIS_MOVE


class ElevationAxisTrack(_Track):
    """Set the elevation tracking target (complete on ACK)."""

    command_code = CommandCode.ELEVATION_AXIS_TRACK


class ElevationAxisHome(Command):
    """Home the elevation axis."""

    command_code = CommandCode.ELEVATION_AXIS_HOME


class ElevationAxisResetAlarm(Command):
    """Reset elevation axis alarms."""

    command_code = CommandCode.ELEVATION_AXIS_RESET_ALARM


class ElevationAxisEnableTracking(_OnOff):
    """Enable or disable elevation tracking mode."""

    command_code = CommandCode.ELEVATION_AXIS_ENABLE_TRACKING


class ElevationAxisDriveReset(_Drive):
    """Reset elevation drives."""

    command_code = CommandCode.ELEVATION_AXIS_DRIVE_RESET


class ElevationAxisDriveEnable(_DriveOnOff):
    """Enable or disable elevation drives."""

    command_code = CommandCode.ELEVATION_AXIS_DRIVE_ENABLE


class CameraCableWrapPower(_OnOff):
    """Power the camera cable wrap on or off."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_POWER


class CameraCableWrapStop(Command):
    """Stop the camera cable wrap."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_STOP


class CameraCableWrapMove(_Move):
    """Move the camera cable wrap to a position."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_MOVE


class CameraCableWrapTrack(_Track):
    """Set the camera cable wrap tracking target (complete on ACK)."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_TRACK


class CameraCableWrapResetAlarm(Command):
    """Reset camera cable wrap alarms."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_RESET_ALARM


class CameraCableWrapDriveEnable(Command):
    """Enable or disable one camera cable wrap drive."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_DRIVE_ENABLE
    drive: int = field(INT, doc="Drive index.")
    on: bool = field(BOOL, doc="Enable?")


class CameraCableWrapDriveReset(_RequiredDrive):
    """Reset one camera cable wrap drive."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_DRIVE_RESET


class CameraCableWrapEnableTracking(_OnOff):
    """Enable or disable camera cable wrap tracking mode."""

    command_code = CommandCode.CAMERA_CABLE_WRAP_ENABLE_TRACKING


class MainPowerSupplyPower(_OnOff):
    """Power the main power supply on or off."""

    command_code = CommandCode.MAIN_POWER_SUPPLY_POWER


class MainPowerSupplyResetAlarm(Command):
    """Reset main power supply alarms."""

    command_code = CommandCode.MAIN_POWER_SUPPLY_RESET_ALARM


class OilSupplySystemPower(_OnOff):
    """Power the whole oil supply system on or off."""

    command_code = CommandCode.OIL_SUPPLY_SYSTEM_POWER


class OilSupplySystemPowerCooling(_OnOff):
    """Power the oil supply cooling on or off."""

    command_code = CommandCode.OIL_SUPPLY_SYSTEM_POWER_COOLING


class OilSupplySystemPowerOil(_OnOff):
    """Power the oil circuit on or off."""

    command_code = CommandCode.OIL_SUPPLY_SYSTEM_POWER_OIL


class OilSupplySystemPowerMainPump(_OnOff):
    """Power the main oil pump on or off."""

    command_code = CommandCode.OIL_SUPPLY_SYSTEM_POWER_MAIN_PUMP


class OilSupplySystemResetAlarm(Command):
    """Reset oil supply system alarms."""

    command_code = CommandCode.OIL_SUPPLY_SYSTEM_RESET_ALARM


class MirrorCoversPower(_DriveOnOff):
    """Power mirror cover drives on or off."""

    command_code = CommandCode.MIRROR_COVERS_POWER


class MirrorCoversStop(_Drive):
    """Stop mirror cover motion."""

    command_code = CommandCode.MIRROR_COVERS_STOP


class MirrorCoversDeploy(_Drive):
    """Deploy (close) the mirror covers."""

    command_code = CommandCode.MIRROR_COVERS_DEPLOY


class MirrorCoversRetract(_Drive):
    """Retract (open) the mirror covers."""

    command_code = CommandCode.MIRROR_COVERS_RETRACT


class MirrorCoversResetAlarm(_Drive):
    """Reset mirror cover alarms."""

    command_code = CommandCode.MIRROR_COVERS_RESET_ALARM


class MirrorCoverLocksPower(_DriveOnOff):
    """Power mirror cover lock drives on or off."""

    command_code = CommandCode.MIRROR_COVER_LOCKS_POWER


class MirrorCoverLocksStop(_Drive):
    """Stop mirror cover lock motion."""

    command_code = CommandCode.MIRROR_COVER_LOCKS_STOP


class MirrorCoverLocksResetAlarm(_Drive):
    """Reset mirror cover lock alarms."""

    command_code = CommandCode.MIRROR_COVER_LOCKS_RESET_ALARM


class MirrorCoverLocksMoveAll(Command):
    """Move all mirror cover locks."""

    command_code = CommandCode.MIRROR_COVER_LOCKS_MOVE_ALL
    drive: int = field(INT, default=-1, doc="Drive index 0-3; -1: all drives.")
    deploy: bool = field(BOOL, doc="Deploy (lock) if true, retract if false.")


class TopEndChillerPower(_OnOff):
    """Power the top-end chiller on or off."""

    command_code = CommandCode.TOP_END_CHILLER_POWER


class TopEndChillerTrackAmbient(Command):
    """Make the top-end chiller track ambient temperature, or hold a setpoint."""

    command_code = CommandCode.TOP_END_CHILLER_TRACK_AMBIENT
    on: bool = field(BOOL, doc="Track ambient?")
    temperature: float = field(FLOAT, doc="Setpoint when not tracking ambient [C].")


class TopEndChillerResetAlarm(Command):
    """Reset top-end chiller alarms."""

    command_code = CommandCode.TOP_END_CHILLER_RESET_ALARM


def _all_commands() -> dict[CommandCode, type[Command]]:
    found: dict[CommandCode, type[Command]] = {}
    for obj in list(globals().values()):
        if isinstance(obj, type) and issubclass(obj, Command) and "command_code" in vars(obj):
            if obj.command_code in found:
                raise RuntimeError(
                    f"{obj.__name__} and {found[obj.command_code].__name__} share a code"
                )
            found[obj.command_code] = obj
    return found


COMMANDS: dict[CommandCode, type[Command]] = _all_commands()
"""Every command class, by code."""

# Catalogue names of the original mount classes (same objects as above).
Commands: tuple[type[Command], ...] = tuple(COMMANDS.values())
"""Every command class, in declaration order."""
CommandDict: dict[CommandCode, type[Command]] = COMMANDS
"""Every command class, by code (the same dict as `COMMANDS`)."""
AckOnlyCommandCodes: frozenset[CommandCode] = ACK_ONLY_COMMANDS
"""Codes of the commands that are done when acknowledged (no DONE reply)."""

_BY_TEXT: dict[str, type[Command]] = {str(int(code)): cls for code, cls in COMMANDS.items()}
# Chosen by the code's text: the parsers need not check the code again.
_PARSER_BY_TEXT: dict[str, Any] = {text: cls._parse_known for text, cls in _BY_TEXT.items()}


def command_class(code: CommandCode | int | str) -> type[Command]:
    """Return the command class for a code, name or class name.

    Parameters
    ----------
    code : `CommandCode`, `int` or `str`
        A code (``403``), a code name (``"ELEVATION_AXIS_MOVE"``) or a class name
        (``"ElevationAxisMove"``).

    Raises
    ------
    KeyError
        If no command class matches.
    """
    if isinstance(code, str) and not code.lstrip("-").isdigit():
        for cls in COMMANDS.values():
            if code in (cls.__name__, cls.command_code.name):
                return cls
        if code in CommandCode.__members__:
            key = CommandCode[code]
            raise KeyError(f"command {key.name} ({int(key)}) has no message class")
        raise KeyError(f"no command named {code!r}")
    key = CommandCode(int(code))
    try:
        return COMMANDS[key]
    except KeyError:
        raise KeyError(f"command {key.name} ({int(key)}) has no message class") from None


def parse_command(fields: list[str]) -> Command:
    """Parse the wire fields of one frame as a command.

    Raises
    ------
    ProtocolError
        Unknown code, code with no class, wrong field count or a bad value.
    """
    try:
        parse = _PARSER_BY_TEXT[fields[1]]
    except (KeyError, IndexError):
        parse = _lookup_slow(fields)._parse_fields  # private-access: protocol-internal parser
    return parse(fields)  # type: ignore[no-any-return]


def _lookup_slow(fields: list[str]) -> type[Command]:
    if len(fields) < 4:
        raise ProtocolError(
            f"a command has at least 4 fields (sequence_id, code, source, timestamp), "
            f"got {len(fields)}",
            fields,
        )
    try:
        code = int(fields[1])
    except ValueError:
        raise ProtocolError(
            f"expected an integer command code, got {fields[1]!r}", fields
        ) from None
    try:
        return COMMANDS[CommandCode(code)]
    except ValueError:
        raise ProtocolError(f"unknown command code {code}", fields) from None
    except KeyError:
        raise ProtocolError(
            f"command code {code} ({CommandCode(code).name}) has no message class", fields
        ) from None
