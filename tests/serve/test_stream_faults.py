"""A streamed turn whose model stream is cut once its text began is continued, not failed:
its reader has seen the text so far, and sees the rest (or, after the text block closed,
only the reply's end) follow once, with nothing repeated. Cut after the reply's
message_delta, nothing was lost and the turn is done at once."""

from __future__ import annotations

from tests.serve.conftest import served

TURNS = "/v1/agents/writer/sessions/{}/turns"
SAID = "please repeat after me: " + " ".join(f"word{i}" for i in range(20))
# The reply's stream: message_start, content_block_start, ping, 24 text deltas,
# content_block_stop, message_delta, message_stop.
TEXT_ENDS = 3 + 24


async def test_a_cut_after_any_event_before_the_end_of_the_reply_is_survived() -> None:
    # before the text: retried whole; within it, or after its block closed: continued;
    # after message_delta nothing was lost (only message_stop is missing): done, one call
    for k in range(1, TEXT_ENDS + 3):
        async with served(sim={"faults": {"*": f"cut(after={k});ok"}}) as s:
            events = await s.events(TURNS.format("c"), {"message": SAID, "stream": True})
            calls = [e for e in s.sim.ledger if e.path == "/v1/messages"]
        assert events[-1][1] == "done", (k, events[-1])
        text = "".join(d["text"] for _, kind, d in events if kind == "text")
        assert text == events[-1][2]["output"] == SAID, k  # whole, and once
        assert len(calls) == (1 if k == TEXT_ENDS + 2 else 2), k


async def test_a_cut_once_the_text_block_closed_commits_the_text_it_showed_once() -> None:
    async with served(sim={"faults": {"*": f"cut(after={TEXT_ENDS + 1});ok"}}) as s:
        events = await s.events(TURNS.format("c"), {"message": SAID, "stream": True})
        status, history, _ = await s.get("/v1/agents/writer/sessions/c")
    assert events[-1][1] == "done", events[-1]
    assert "".join(d["text"] for _, kind, d in events if kind == "text") == SAID
    assert status == 200 and history["length"] == 2  # the prompt and the whole reply
    reply = history["messages"][1]["content"]
    assert "".join(b["text"] for b in reply if b["type"] == "text") == SAID
