"""``chorus chat`` as a person uses it: a real process, typed lines, streamed replies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def chat(tmp_path: Path, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "chorus", "chat", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


def test_chat_streams_replies_and_shows_tool_calls(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "model: claude-sonnet-4-5\nsystem: Be brief.\ntools: [tests.agent.chat_tools:get_weather]\n"
    )
    result = chat(
        tmp_path, ["hello there", "what is the weather in Lyon?", "exit"], "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "answering from the built-in simulator" in out
    assert "claude> hello there" in out
    assert "[calling get_weather]" in out
    assert "[get_weather returned: 12 C and clear in Lyon]" in out


def test_chat_resumes_a_session(tmp_path: Path) -> None:
    first = chat(tmp_path, ["My locker number is 4411.", "exit"], "--session", "me", "--db", "c.db")
    assert first.returncode == 0, first.stderr
    second = chat(tmp_path, ["What is my locker number?"], "--session", "me", "--db", "c.db")
    assert "Resumed session me (2 messages)." in second.stdout
    assert "4411" in second.stdout.split("What is my locker number?")[-1] or "4411" in second.stdout


def test_chat_config_errors_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("tools: [no_such_module:thing]\n")
    result = chat(tmp_path, [], "--config", str(config))
    assert result.returncode == 2
    assert "cannot import no_such_module" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    config.write_text("modle: typo\n")
    result = chat(tmp_path, [], "--config", str(config))
    assert result.returncode == 2 and "modle" in result.stderr


def test_chat_takes_a_context_policy_and_rejects_a_bad_one(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("context:\n  max_input_tokens: 4000\n  pinned: [The user is called Ada.]\n")
    result = chat(tmp_path, ["What is the user called?", "exit"], "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "The user is called Ada." in result.stdout  # the pinned fact reached the model
    for bad, says in (
        ("context:\n  max_input_tokens: 10\n", "at least 256"),
        ("context:\n  compact_at: 2\n", "compact_at"),
        ("context:\n  recal: 3\n", "recal"),
    ):
        config.write_text(bad)
        result = chat(tmp_path, [], "--config", str(config))
        assert result.returncode == 2 and says in result.stderr, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
