"""A decision by a judge over HTTP: the judge is one of the server's agents, named."""

from __future__ import annotations

import msgspec

from tests.serve.conftest import config, served


async def test_a_judge_named_in_the_request_decides_and_its_verdicts_stream() -> None:
    quiz = {"behaviour": "quiz", "quiz": {"profiles": {"*": {"accuracy": 0.4}}}}
    agents = msgspec.to_builtins(config())["agents"]
    for agent in agents:  # members of different models, whose answers differ
        if agent["name"] == "writer":
            agent["model"] = "claude-haiku-4-5"
    async with served(config(agents=agents), sim=quiz) as s:
        for n in range(20):  # until the members disagree, so the judge is asked
            question = f"Question {n}: which option is right? A, B, C or D [key B]"
            ask = {"question": question, "strategy": "judge", "judge": "assistant"}
            events = await s.events("/v1/teams/crew/decide", {**ask, "stream": True})
            verdicts = [d for _, k, d in events if k == "verdict"]
            if verdicts:
                break
        assert sorted(v["order"] for v in verdicts) == [1, 2]  # asked in both orders
        assert all(v["judge"] == "assistant" for v in verdicts)
        assert events[-1][1] == "decided"
        assert events[-1][2]["decision"]["strategy"] == "judge"


async def test_a_judge_must_be_one_of_the_servers_agents() -> None:
    async with served() as s:
        base = {"question": "Which is larger, 7 or 9?"}
        for body, said in [
            ({**base, "strategy": "judge"}, "judge: the name"),
            ({**base, "strategy": "judge", "judge": "nobody"}, "judge: the name"),
            ({**base, "judge": "assistant"}, 'only with "strategy": "judge"'),
        ]:
            status, error, _ = await s.post("/v1/teams/crew/decide", body)
            assert status == 400 and said in error["error"]["message"]
