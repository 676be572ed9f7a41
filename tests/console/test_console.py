"""The web console in a real browser: headless Chromium (Debian's package) driven by
Playwright, against a real ``chorus serve`` process on the simulator with a SQLite store.

Each test takes a screenshot of its view; ``CHORUS_SCREENSHOTS=docs`` keeps them in
``docs/`` (the README shows one), else they go to a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.process import chorus_serve

playwright = pytest.importorskip("playwright.sync_api")

BROWSER = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(BROWSER):  # CI installs it (scripts/test); there a missing one fails
    if os.environ.get("CHORUS_REQUIRE_BROWSER"):
        raise RuntimeError(f"no Chromium at {BROWSER}: apt-get install -y chromium")
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("CHORUS_SCREENSHOTS")
KEY = "sk-console-test"
CONFIG = f"""
agents:
  - name: assistant
    system: Use the tools when they help.
    tools: ["chorus.serve.demo:get_weather", "chorus.serve.demo:send_email"]
  - name: slow
    tools: ["tests.console.tools:take_a_while"]
  - name: notes
    context: {{max_input_tokens: 700}}
  - name: coder
    tools: ["chorus.serve.demo:calculate"]
    capabilities: [{{name: python, description: writes and fixes Python code}}]
  - name: writer
    capabilities: [{{name: docs, description: writes user documentation}}]
teams:
  - {{name: crew, agents: [coder, writer], bid_window: 0.2}}
keys:
  - {{key: {KEY}, tenant: web, scopes: [turns, teams, admin]}}
"""
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from chorus_serve(tmp_path_factory.mktemp("console"), CONFIG)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=BROWSER, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.fill("#key", KEY)
    page.click("text=Use key")
    page.wait_for_selector("#chat-agent option[value=assistant]", state="attached")
    yield page
    context.close()
    assert not errors, errors


def call(server: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def shoot(page: Any, name: str) -> None:
    folder = ROOT / SHOTS if SHOTS else Path(tempfile.gettempdir()) / "chorus-console"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def send(page: Any, agent: str, message: str) -> None:
    page.select_option("#chat-agent", agent)
    page.fill("#chat-message", message)
    page.press("#chat-message", "Enter")


def test_without_a_key_the_console_says_one_is_needed(browser: Any, server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#notice:not([hidden])")
    assert "API key" in page.inner_text("#notice")
    assert page.evaluate("sessionStorage.getItem('chorus-key')") is None
    page.fill("#key", KEY)
    page.click("text=Use key")
    page.wait_for_selector("#chat-agent option[value=slow]", state="attached")
    assert page.is_hidden("#notice")
    assert page.evaluate("sessionStorage.getItem('chorus-key')") == KEY  # kept for the tab
    context.close()


def test_a_message_streams_with_its_tool_call_and_result(page: Any) -> None:
    page.evaluate(
        """() => { window.updates = 0; new MutationObserver((m) => { window.updates += m.length; })
        .observe(document.getElementById('transcript'),
                 {subtree: true, childList: true, characterData: true}); }"""
    )
    send(page, "assistant", "What is the weather in Lyon?")
    page.wait_for_selector(".msg.assistant .block.tool:has-text('get_weather')")
    page.wait_for_selector(".block.result:has-text('12 C and clear in Lyon')")
    page.wait_for_selector(".msg.assistant .usage:has-text('turn 1')")
    reply = page.inner_text(".msg.assistant")
    assert reply.index("tool call: get_weather") < reply.index("returned: 12 C")
    assert page.evaluate("window.updates") > 6  # it came in pieces, not as one block
    assert page.is_enabled("#chat-send") and page.is_disabled("#chat-cancel")
    shoot(page, "console-chat.png")


def test_a_tool_call_waits_for_approval_and_runs_once_approved(page: Any, server: str) -> None:
    send(page, "assistant", "Send an email to ana@example.com about the launch")
    page.wait_for_selector(".block.approval:has-text('send_email')")
    session = page.input_value("#chat-session")
    pending = call(server, "GET", f"/v1/agents/assistant/sessions/{session}/pending")
    assert [c["name"] for c in pending["data"]] == ["send_email"]
    shoot(page, "console-approval.png")
    page.click("button[aria-label='Approve send_email']")
    page.wait_for_selector(".block.result:has-text('sent to')")
    page.wait_for_selector(".msg.assistant .usage:has-text('turn 2')")
    assert call(server, "GET", f"/v1/agents/assistant/sessions/{session}/pending")["data"] == []


def test_a_denied_tool_call_does_not_run(page: Any, server: str) -> None:
    send(page, "assistant", "Send an email to bo@example.com about the budget")
    page.wait_for_selector(".block.approval")
    page.click("button[aria-label='Deny send_email']")
    page.wait_for_selector(".block.result.error")
    assert "sent to" not in page.inner_text("#transcript")
    session = page.input_value("#chat-session")
    history = call(server, "GET", f"/v1/agents/assistant/sessions/{session}")
    results = [
        b
        for m in history["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    assert len(results) == 1 and results[0]["is_error"]  # the tool never ran: denied
    assert "sent to" not in json.dumps(results)


def test_a_running_turn_is_cancelled(page: Any, server: str) -> None:
    send(page, "slow", "Please take a while to look this up")
    page.wait_for_selector(".block.tool:has-text('take_a_while')")
    assert page.is_enabled("#chat-cancel")
    for fixed in ("#chat-new", "#chat-agent", "#chat-session"):  # the turn's session stays
        assert page.is_disabled(fixed)
    page.click("#chat-cancel")
    page.wait_for_selector(".block.error:has-text('cancelled')", timeout=5000)
    page.wait_for_selector("#chat-cancel:disabled")
    session = page.input_value("#chat-session")
    turn = call(server, "GET", f"/v1/agents/slow/sessions/{session}/turns/1")
    assert turn["status"] == "cancelled"
    history = call(server, "GET", f"/v1/agents/slow/sessions/{session}")
    assert history["length"] == 0 and history["running"] is None  # nothing half committed


def test_a_past_session_opens_with_its_summaries_marked_and_goes_on(page: Any, server: str) -> None:
    base = "/v1/agents/notes/sessions/travel"
    for n in range(40):
        said = (
            f"Ferry {n} leaves Oban at {n % 12 + 1} o'clock. It docks at pier {n}. "
            f"Tickets cost {n + 3} pounds. Deck {n} has seats. Cabin {n} sleeps two. "
            f"The crossing takes {n + 40} minutes. Cars pay {n + 9} pounds more."
        )
        call(server, "POST", base + "/turns", {"message": said})
        if call(server, "GET", base)["summaries"]:
            break
    history = call(server, "GET", base)
    assert history["summaries"], "the session compacted"
    page.click("#tab-sessions")
    page.select_option("#sessions-agent", "notes")
    page.fill("#sessions-q", "ferry")  # a word said in it, not in its id
    page.click("#sessions-form button[type=submit]")
    page.wait_for_selector("#sessions-table td:text-is('travel')")
    shoot(page, "console-sessions.png")
    page.fill("#sessions-q", "no-such-word")
    page.click("#sessions-form button[type=submit]")
    page.wait_for_selector("#sessions-empty:not([hidden])")
    page.fill("#sessions-q", "")
    page.click("#sessions-form button[type=submit]")
    page.click("button[aria-label='Open session travel']")
    page.wait_for_selector("#view-chat:not([hidden]) .block.summary:has-text('compacted')")
    assert page.input_value("#chat-session") == "travel"
    assert page.locator(".msg.user").count() >= 2
    first = history["summaries"][0]
    assert page.locator(".msg.folded").count() == first["end"] - first["start"]
    page.locator(".block.summary").first.scroll_into_view_if_needed()
    shoot(page, "console-history.png")
    turns = history["turns"]
    page.fill("#chat-message", "When does the ferry leave?")
    page.press("#chat-message", "Enter")
    page.wait_for_selector(f".usage:has-text('turn {turns + 1}')")


def test_a_team_run_shows_who_was_asked_the_bids_the_award_and_the_outcome(
    page: Any,
) -> None:
    page.click("#tab-teams")
    page.wait_for_selector("#team-name option[value=crew]", state="attached")
    page.fill("#team-task", "Write a Python function that adds two numbers, with tests")
    page.click("#team-run")
    page.wait_for_selector("#team-outcome .won:has-text('coder did it')")
    assert "coder" in page.inner_text("#team-asked")
    assert "coder" in page.inner_text("#team-bids")
    assert "coder (award 1)" in page.inner_text("#team-awards")
    kinds = [line.split(" ")[0] for line in page.inner_text("#team-log").splitlines()]
    assert kinds == ["called_for_bids", "bid", "awarded", "task_completed"]
    shoot(page, "console-team.png")
    page.check("input[value=decide]")
    page.fill("#team-task", "Which is larger, 7 or 9?")
    page.click("#team-run")
    page.wait_for_selector("#team-outcome :has-text('decided by')")
    assert page.locator("#team-answers li").count() == 2  # each member's answer


def test_the_metrics_move_as_turns_run(page: Any, server: str) -> None:
    page.click("#tab-metrics")
    page.wait_for_selector("#metric-tokens .usage:has-text('in all')")
    before = int(page.inner_text("#metric-tokens .usage").split()[0])

    def load() -> None:
        for n in range(8):
            call(server, "POST", f"/v1/agents/assistant/sessions/load-{n}/turns", {"message": "hi"})

    worker = threading.Thread(target=load)
    worker.start()
    page.wait_for_function(
        "() => parseFloat(document.querySelector('#metric-turns .value').textContent) > 0",
        timeout=15000,
    )
    worker.join()
    page.wait_for_function(
        f"() => parseInt(document.querySelector('#metric-tokens .usage').textContent) > {before}"
    )
    assert page.inner_text("#metric-p99 .value").isdigit()
    assert "closed" in page.inner_text("#breakers")
    page.wait_for_timeout(2500)  # one more sample, so the charts have a line
    shoot(page, "console-metrics.png")


def test_model_output_is_shown_as_text_never_run_as_html(page: Any, server: str) -> None:
    attack = '<img src=x onerror="window.pwned=1"> <b>bold?</b>'
    send(page, "writer", attack)
    page.wait_for_selector(".msg.assistant .usage")
    assert page.evaluate("window.pwned") is None
    assert attack in page.inner_text(".msg.user")
    assert page.locator("#transcript img, #transcript b").count() == 0
    with urllib.request.urlopen(server + "/") as r:
        policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_keyboard_labels_and_contrast(page: Any) -> None:
    page.focus("#tab-chat")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-sessions", "aria-selected") == "true"
    assert page.evaluate("document.activeElement.id") == "tab-sessions"
    page.keyboard.press("End")
    assert page.is_visible("#view-metrics") and page.is_hidden("#view-chat")
    page.keyboard.press("Home")
    assert page.is_visible("#view-chat")
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
        .filter((e) => e.type !== 'radio' && e.labels.length === 0 && !e.getAttribute('aria-label'))
        .map((e) => e.id)"""
    )
    assert unlabeled == []
    ratios = page.evaluate(
        """() => {
          const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
          const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
          const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
            return (x + 0.05) / (y + 0.05); };
          const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e)
            .backgroundColor; if (!c.startsWith('rgba(0, 0, 0, 0')) return c; }
            return 'rgb(255, 255, 255)'; };
          return [...document.querySelectorAll('button:not(:disabled), label, h1, .status')]
            .filter((e) => e.offsetParent)
            .map((e) => [e.textContent.trim().slice(0, 20),
                         ratio(getComputedStyle(e).color, bg(e))]);
        }"""
    )
    poor = [(text, round(r, 2)) for text, r in ratios if r < 4.5]
    assert ratios and not poor, poor
