"""``chorus team`` as a person uses it: a real process, a config file, events as they happen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chorus.declare import load_team_config
from chorus.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
agents:
  - name: coder
    system: You write Python.
    capabilities: [{name: python, description: writes and fixes Python code and tests}]
  - name: coder2
    capabilities: [{name: python, description: writes Python code}]
  - name: writer
    capabilities: [{name: docs, description: writes documentation}]
team: {bid_window: 0.1, max_hops: 2}
"""


def team(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "chorus", "team", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


def test_a_task_shows_who_was_asked_the_bids_the_award_and_the_result(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(CONFIG)
    run = team(tmp_path, "--config", "team.yaml", "the failing tests need fixing")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "answering from the built-in simulator" in out
    assert "'python' -> asked coder, coder2 for bids" in out  # found by the task's words
    assert out.count("bid from ") == 2 and "awarded to coder" in out
    assert "done by coder" in out and "the failing tests need fixing" in out


def test_lines_are_tasks_and_a_question_is_decided(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(CONFIG)
    lines = "? Tabs or spaces?\nwrite the changelog\n"
    run = team(tmp_path, "--config", "team.yaml", "--capability", "docs", stdin=lines)
    assert run.returncode == 0, run.stderr
    assert "asked coder, coder2, writer" in run.stdout  # the question goes to everyone
    assert "decided (majority, agreed)" in run.stdout
    assert "'docs' -> asked writer for bids" in run.stdout and "done by writer" in run.stdout


def test_the_demo_team_runs_with_no_config(tmp_path: Path) -> None:
    run = team(tmp_path, "--decide", "Which queue should we use?")
    assert run.returncode == 0, run.stderr
    assert "running the demo team" in run.stdout and "decided (majority" in run.stdout


def test_bad_input_gets_one_line_that_says_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(CONFIG)
    cases = [
        (("--config", "team.yaml", "--strategy", "vibes", "--decide", "?"), "--strategy"),
        (("--config", "team.yaml", "task", "--decide", "q"), "not both"),
        (("--config", "missing.yaml", "x"), "cannot read team config"),
        (("--config", "team.yaml", "bake a cake"), "no agent advertises"),
    ]
    for args, message in cases:
        run = team(tmp_path, *args)
        assert run.returncode != 0
        said = (run.stderr + run.stdout).strip().splitlines()
        assert any(message in line for line in said), (args, said)
        assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agents: []", "needs `agents:`"),
        ("agents: [{name: a, modle: x}]", "modle"),
        ("agents: [{name: a}, {name: a}]", "distinct names; a repeat"),
        ("agents: [{name: a, capabilities: [{name: x}, {name: x}]}]", "capabilities"),
        ("agents: [{name: a, tools: [nowhere:fn]}]", "agents[0]: tool 'nowhere:fn'"),
        ("agents: [{name: a}]\nteam: {bid_window: 0}", "bid_window"),
        ("agents: [{name: a}]\nteam: {max_hops: -1}", "max_hops"),
        ("agents: [{name: a}]\nteam: {size: 3}", "size"),
    ],
)
def test_a_team_config_is_checked_at_load(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_team_config(str(path))
