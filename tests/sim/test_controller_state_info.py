"""End to end: ON_STATE_INFO reaches every console when the controller's state changes."""

from __future__ import annotations

from typing import Any

from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source

from .controller_helpers import Console, console, fast_controller

CSC, EUI = Source.CSC, Source.EUI


async def until_state_info(c: Console) -> tuple[list[Any], str]:
    """Read up to the next ON_STATE_INFO: (the replies before it, its description)."""
    before = []
    while not isinstance(reply := await c.read(), replies.OnStateInfoReply):
        before.append(reply)
    return before, reply.description


async def test_state_changes_are_announced_to_every_console() -> None:
    async with (
        fast_controller((CSC, EUI), enabled=True) as controller,
        console(controller, CSC, state_info=True) as csc,
        console(controller, EUI, state_info=True) as eui,
    ):
        # Taking command: the asker gets ACK, DONE, then the news; everyone gets the news.
        seq = await csc.send(commands.AskForCommand(commander=CSC))
        await csc.expect(replies.AckReply, seq)
        await csc.expect(replies.DoneReply, seq)
        await csc.expect(replies.OnStateInfoReply, description="Commander: CSC")
        await eui.expect(replies.OnStateInfoReply, description="Commander: CSC")
        # Asking for what one already has changes nothing: no news.
        await csc.run(commands.AskForCommand(commander=CSC))
        seq = await csc.send(commands.Disable())
        await csc.expect(replies.AckReply, seq)
        await csc.expect(replies.DoneReply, seq)
        await csc.expect(replies.OnStateInfoReply, description="Mount disabled")
        await eui.expect(replies.OnStateInfoReply, description="Mount disabled")
        await csc.run(commands.Disable())  # already disabled: no news
        await csc.run(commands.Enable())
        for c in (csc, eui):
            await c.expect(replies.OnStateInfoReply, description="Mount enabled")
        # The interlock: the ERROR first, then the news; and again on reset.
        controller.trip_interlock("e-stop")
        for c in (csc, eui):
            before, description = await until_state_info(c)
            assert description == "Safety interlock tripped"
            assert [(type(r), r.code, r.active) for r in before] == [
                (replies.ErrorReply, 1801, True)
            ]
        seq = await csc.send(commands.SafetyReset())
        before, description = await until_state_info(csc)
        assert description == "Safety interlock reset"
        assert [type(r) for r in before] == [
            replies.AckReply,
            replies.ErrorReply,  # the interlock alarm, now inactive
            replies.DoneReply,
        ]
        assert before[0].sequence_id == before[2].sequence_id == seq
        before, description = await until_state_info(eui)
        assert description == "Safety interlock reset"
        assert [(type(r), r.code, r.active) for r in before] == [(replies.ErrorReply, 1801, False)]
        # Handing over and releasing command.
        await csc.run(commands.AskForCommand(commander=EUI))
        for c in (csc, eui):
            await c.expect(replies.OnStateInfoReply, description="Commander: EUI")
        await eui.run(commands.AskForCommand(commander=Source.NONE))
        for c in (csc, eui):
            await c.expect(replies.OnStateInfoReply, description="Commander: NONE")
        # A rejected request changes nothing: NOACK, and no news.
        seq = await csc.send(commands.Enable())
        await csc.expect(replies.NoAckReply, seq, explanation="does not have command")


async def test_consoles_not_asking_for_state_info_still_get_it() -> None:
    async with fast_controller((CSC,)) as controller, console(controller, CSC) as csc:
        await csc.take_command()
        await csc.run(commands.Disable())
        await csc.run(commands.Enable())
        await csc.run(commands.Enable())  # every reply before its DONE has been read
        assert csc.state_infos == ["Commander: CSC", "Mount disabled", "Mount enabled"]
