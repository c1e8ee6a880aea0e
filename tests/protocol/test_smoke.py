from mountcomm.protocol import commands, parse_command


def test_round_trip_smoke() -> None:
    cmd = commands.ElevationAxisMove(sequence_id=5, position=45)
    assert parse_command(cmd.fields()) == cmd
