"""The ``chorus`` command.

``chorus sim`` runs the Claude API simulator. Every argument is checked here;
a bad one gets a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from chorus.errors import ConfigError
from chorus.heap import settle as settle_heap

__all__ = ["main"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 0..65535, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"chorus: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chorus", description="Run Claude agents in production.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sim = sub.add_parser(
        "sim",
        help="run the Claude API simulator",
        description="Serve a faithful Messages API on this machine: no key, no network needed.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--port", type=_port, default=8080, help="port (0 = any free port)")
    sim.add_argument("--config", help="YAML or JSON simulator config file")
    sim.add_argument("--seed", type=int, help="seed for ids, latency jitter and faults")
    sim.add_argument(
        "--behaviour",
        help="how the simulated model replies: auto (default), echo, template, script, tools, "
        "recall, summarize or quiz",
    )
    sim.add_argument("--script", help="YAML or JSON file of scripted replies")
    sim.add_argument("--ttft", type=_non_negative, help="seconds before the first token")
    sim.add_argument("--tps", type=_non_negative, help="output tokens per second (0 = instant)")
    sim.add_argument("--faults", help='fault plan for every model, e.g. "529;429(retry_after=1)"')
    sim.add_argument("--api-key", action="append", help="accept only this key (repeatable)")
    sim.add_argument("--virtual-time", action="store_true", help="never really sleep")
    sim.add_argument("--quiet", action="store_true", help="print only the listening address")
    chat = sub.add_parser(
        "chat",
        help="chat with an agent in the terminal",
        description="Talk to an agent defined in a config file; replies stream as written.",
    )
    chat.add_argument("--config", help="YAML or JSON agent config (model, system, tools)")
    chat.add_argument("--session", help="keep the conversation under this id and resume it")
    chat.add_argument("--db", default="chorus.db", help="SQLite file for --session (chorus.db)")
    serve = sub.add_parser(
        "serve",
        help="serve agents and teams over HTTP",
        description="Serve the agents and teams of a config file (or a demo) over HTTP: "
        "turns, sessions, streams, approvals, teams, metrics.",
    )
    serve.add_argument("--config", help="YAML or JSON server config (default: the demo)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 = any)")
    serve.add_argument("--quiet", action="store_true", help="print only the listening address")
    team = sub.add_parser(
        "team",
        help="run a team of agents and watch who does what",
        description="Assign a task (or decide a question) with a team defined in a config "
        "file; every bid, award and answer shows as it happens.",
    )
    team.add_argument("task", nargs="?", help="the task to assign (none: read one per line)")
    team.add_argument("--config", help="YAML or JSON team config (agents, capabilities)")
    team.add_argument("--capability", help="the capability the task needs (default: by its words)")
    team.add_argument("--decide", metavar="QUESTION", help="ask every member and decide")
    team.add_argument(
        "--strategy",
        default="majority",
        help="how --decide decides: majority (default), confidence, weighted, debate, "
        "self_consistency",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "sim":
            return _run_sim(args)
        if args.command == "chat":
            from chorus.chat import load_agent_config, run_chat

            config = load_agent_config(args.config)
            return _run(run_chat(config, session_id=args.session, db=args.db)) or 0
        if args.command == "team":
            return _run_team(args)
        if args.command == "serve":
            from chorus.serve.run import serve

            def say(text: str) -> None:
                if not args.quiet or text.startswith("chorus serve listening"):
                    print(text, flush=True)

            _run(serve(args.config, args.host, args.port, say=say))
            return 0
    except ConfigError as exc:
        print(f"chorus: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"chorus: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 2


def _run_team(args: argparse.Namespace) -> int:
    from chorus.declare import load_team_config
    from chorus.team import STRATEGIES
    from chorus.team_console import run_team

    if args.strategy not in STRATEGIES or args.strategy == "judge":
        choices = ", ".join(s for s in STRATEGIES if s != "judge")
        raise ConfigError(f"--strategy is one of {choices}; got {args.strategy!r}")
    if args.task is not None and args.decide is not None:
        raise ConfigError("give a task or --decide QUESTION, not both")
    for text, what in ((args.task, "the task"), (args.decide, "--decide")):
        if text is not None and not text.strip():
            raise ConfigError(f"{what} is empty")
    config = load_team_config(args.config) if args.config else None
    coro = run_team(
        config,
        task=args.task,
        capability=args.capability,
        decide=args.decide,
        strategy=args.strategy,
    )
    return int(_run(coro) or 0)


def _sim_config(args: argparse.Namespace) -> Any:
    from chorus.sim.config import SimConfig, config_from_dict, load_config, load_script

    base = load_config(args.config) if args.config else SimConfig()
    raw: dict[str, Any] = {}
    if args.seed is not None:
        raw["seed"] = args.seed
    if args.behaviour:
        raw["behaviour"] = args.behaviour
    if args.script:
        raw["script"] = load_script(args.script)
    if args.ttft is not None or args.tps is not None:
        lat = base.latency
        raw["latency"] = {
            "ttft": args.ttft if args.ttft is not None else lat.ttft,
            "ttft_sigma": lat.ttft_sigma,
            "tokens_per_second": args.tps if args.tps is not None else lat.tokens_per_second,
            "ping_interval": lat.ping_interval,
        }
    if args.faults:
        raw["faults"] = {"*": args.faults}
    if args.api_key:
        raw["api_keys"] = list(args.api_key)
    if args.virtual_time:
        raw["virtual_time"] = True
    if not raw:
        return base
    import msgspec

    merged = msgspec.to_builtins(base)
    merged.update(raw)
    return config_from_dict(merged, source="arguments")


def _run_sim(args: argparse.Namespace) -> int:
    config = _sim_config(args)
    from chorus.sim import Simulator

    async def serve() -> None:
        sim = Simulator(config, host=args.host, port=args.port)
        await sim.start()
        settle_heap()
        print(f"chorus sim listening on {sim.base_url}", flush=True)
        if not args.quiet:
            print(_usage(sim.base_url), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await sim.stop()

    _run(serve())
    return 0


def _usage(base_url: str) -> str:
    return f"""
Point the official SDK (or anything that speaks the Messages API) at it:

  export ANTHROPIC_BASE_URL={base_url}
  export ANTHROPIC_API_KEY=sk-sim-any-key
  python -c "import anthropic; print(anthropic.Anthropic().messages.create(
      model='claude-sonnet-4-5', max_tokens=256,
      messages=[{{'role': 'user', 'content': 'Hello, simulator'}}]).content[0].text)"

Models: GET {base_url}/v1/models   Attempt ledger: GET {base_url}/_chorus/ledger
Inject faults per request with the header  x-chorus-fault: 529;429(retry_after=1);ok
Press Ctrl-C to stop."""


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
