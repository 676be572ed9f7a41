"""History keeps messages as bytes and decodes them on demand; Extended keeps a run apart."""

from __future__ import annotations

import gc

import msgspec
import pytest

from chorus.context.history import Extended, History, MessageDict, identity
from chorus.context.manager import ContextManager


def _messages(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        out.append({"role": "user", "content": f"question {i}"})
        out.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {i}"}]})
    return out


def test_history_reads_back_what_was_put_in_as_copies() -> None:
    original = _messages(3)
    history = History(original)
    assert len(history) == 6 and list(history) == original and history[-1] == original[-1]
    assert history[1:3] == original[1:3]
    original[0]["content"] = "changed afterwards"
    assert history[0]["content"] == "question 0"  # kept as it was when it was added
    history.extend([{"role": "user", "content": "more"}])
    assert history[6] == {"role": "user", "content": "more"} and len(history) == 7
    with pytest.raises(IndexError):
        history[7]


def test_a_read_message_is_the_same_object_until_the_history_cools() -> None:
    history = History(_messages(2))
    first = history[0]
    assert history[0] is first and type(first) is dict  # (a plain dict: fewest objects)
    token = identity(history, 0)
    history.cool()
    again = history[0]
    assert again is not first and again == first
    assert identity(history, 0) is token  # the token outlives the decoded object


def test_extended_reads_the_base_and_keeps_its_own_messages_apart() -> None:
    base = History(_messages(2))
    run = Extended(base, [{"role": "user", "content": "new"}])
    assert len(run) == 5 and run[4] == {"role": "user", "content": "new"}
    run.append({"role": "assistant", "content": [{"type": "text", "text": "ok"}]})
    run[-1] = {"role": "assistant", "content": [{"type": "text", "text": "okay"}]}
    assert run[3:] == [base[3], {"role": "user", "content": "new"}, run[5]]
    assert run[5]["content"][0]["text"] == "okay"  # type: ignore[index]
    assert len(base) == 4  # the history is only read
    with pytest.raises(IndexError):
        run[0] = {"role": "user", "content": "rewrite"}
    with pytest.raises(TypeError):
        del run[4]
    assert identity(run, 0) is identity(base, 0) and identity(run, 4) is run[4]


def test_measuring_a_history_for_its_window_keeps_nothing_on_its_messages_or_elsewhere() -> None:
    """What the context manager works out about a history's messages rides on the history
    (its window), not on the messages and not in the manager: once the history cools,
    what was decoded is the history's to drop, and nothing else holds it."""
    manager = ContextManager()
    history = History(_messages(50))
    before = len(manager._costs)
    run = Extended(history, [MessageDict(role="user", content="and now?")])
    out, raw, _, sent, _ = manager._measured_from(run, 0)
    assert len(out) == len(raw) == len(sent or ()) == 101
    assert out[0] is history[0] and len(manager._costs) == before
    assert [bytes(j) for j in (sent or [])[:100]] == history.encoded()  # its own bytes
    tracked = sum(1 for o in history._hot.values() if gc.is_tracked(o))
    assert tracked == 50  # (the answers' content lists; a question's dict is untracked)
    history.cool()
    assert history.window is None and not history._hot
    plain = {"role": "user", "content": "a plain dict outside a history is held, as before"}
    manager._measure(plain)
    assert manager._measure(plain) is manager._costs[id(plain)]


def test_a_history_that_starts_later_says_so_instead_of_reading_short() -> None:
    history = History(_messages(5))
    history.forget_before(4)
    assert history.start == 4 and len(history) == 10 and history[4] == _messages(5)[4]
    assert history[4:6] == _messages(5)[4:6]
    with pytest.raises(IndexError, match="store only"):
        history[3]
    with pytest.raises(IndexError):
        list(history)
    with pytest.raises(IndexError):
        list(Extended(history, [{"role": "user", "content": "x"}]))
    partial = History(_messages(5)[6:], start=6)
    assert len(partial) == 10 and partial[9] == _messages(5)[9]


_SHAPES: list[dict[str, object]] = [
    {"role": "user", "content": 'plain é 😀 "quoted" \\ back'},
    {"role": "assistant", "content": [{"type": "text", "text": "t", "citations": None}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": []}]},
    {"content": "content first", "role": "user"},
    {"role": "assistant", "content": "with more", "name": "extra"},
]


def test_a_messages_bytes_are_exactly_the_json_encoding_its_decoded_dict_gives() -> None:
    history = History(_SHAPES)
    for i, message in enumerate(_SHAPES):
        decoded = history[i]
        assert decoded == message
        # (what encoding the decoded message gives, its fields in the order they came)
        assert history.encoded()[i] == msgspec.json.encode(decoded)


def test_a_client_sends_history_messages_as_their_own_json_and_the_same_bytes() -> None:
    from chorus.client import Claude

    history = History(_SHAPES)
    new = MessageDict(role="user", content="and now?")
    read = history[0 : len(history)]
    plain = {"model": "m", "max_tokens": 5, "messages": [*map(dict, read), dict(new)]}
    held = {"model": "m", "max_tokens": 5, "messages": [*read, new]}
    engine = Claude(api_key="k", base_url="http://127.0.0.1:9").engine
    assert engine.encode_body(held) == engine.encode_body(plain) == msgspec.json.encode(plain)
