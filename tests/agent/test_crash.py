"""Fault 13: kill -9 at named failpoints in the commit path, restart, check every invariant.

Each run: a worker process runs tool-using turns against one SQLite session and
SIGKILLs itself at a failpoint; a second worker resumes. Afterwards: every
acknowledged turn is stored, no half turn is visible (the transcript is valid
and whole turns only), and no tool_use ran twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chorus.protocol import transcript
from chorus.store import SQLiteStore

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]
TURNS = 3
FAILPOINTS = ["after_tool_effect", "mid_commit", "before_commit", "after_commit"]


def run_worker(tmp_path: Path, failpoint: str | None) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        str(WORKER),
        str(tmp_path / "s.db"),
        "s",
        str(TURNS),
        str(tmp_path / "ledger"),
    ]
    if failpoint:
        args.append(failpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("nth", [1, 2])
@pytest.mark.parametrize("failpoint", FAILPOINTS)
async def test_kill_9_at_failpoint_then_restart(tmp_path: Path, failpoint: str, nth: int) -> None:
    crashed = run_worker(tmp_path, f"{failpoint}:{nth}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    acked = [int(line.split()[1]) for line in crashed.stdout.splitlines() if line.startswith("ACK")]

    store = SQLiteStore(tmp_path / "s.db")
    after_crash = await store.load("s")  # loads without error: transcript valid, no half turn
    assert after_crash.seq % 4 == 0
    assert all(seq <= after_crash.seq for seq in acked)  # every acknowledged turn survived
    await store.close()

    resumed = run_worker(tmp_path, None)
    assert resumed.returncode == 0, resumed.stderr
    store = SQLiteStore(tmp_path / "s.db")
    final = await store.load("s")
    await store.close()
    assert final.seq == 4 * TURNS
    assert transcript.problems(final.messages) == []
    uses = [
        b["id"]
        for m in final.messages
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    ]
    assert len(uses) == len(set(uses)) == TURNS
    ran = [line.split()[0] for line in (tmp_path / "ledger").read_text().splitlines()]
    assert len(ran) == len(set(ran))  # no tool_use ever ran twice
    assert set(uses) <= set(ran)
