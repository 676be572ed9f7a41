"""Start ``langgraph dev`` for bench/peers/langgraph_app on a given port, in this process.

    SIM_URL=http://127.0.0.1:SIMPORT ANTHROPIC_API_KEY=sk-x \\
        .venv-peers/bin/python bench/peers/langgraph_serve.py --port PORT [--jobs 10]

Runs the ``langgraph dev`` command (langgraph-cli, in-memory runtime from
``langgraph-cli[inmem]``) in this very process, with ``--no-browser --no-reload``, so the
pid that bench/harness.py's start_server measures is the server's. Its first stdout line,
printed once ``GET /ok`` answers 200, names ``http://127.0.0.1:PORT``; everything the
server itself prints goes to stderr.

* ``--jobs``: ``--n-jobs-per-worker``, the runs executed at once (the rest wait in the
  server's queue). Left out, langgraph-cli 0.4.40 runs ONE at a time (its help says 10);
  this launcher passes 10 unless told otherwise.
* The dev server pickles its threads and checkpoints to ``./.langgraph_api`` every 10 s
  and at exit. It is run in a fresh temporary folder (links to agent.py and
  langgraph.json) so that state never lands in the repository; the folder is removed at
  exit. ``--memory-only`` turns that file persistence off (history still kept in memory).
* ``--allow-blocking`` is passed on: the dev server otherwise runs blockbuster, which
  wraps blocking calls to raise if one runs on the event loop.
* Analytics, the version check and LangSmith tracing are turned off (no network here), and
  the server logs at WARNING (``LOG_LEVEL``; it logs every run at INFO otherwise).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parent / "langgraph_app"


def announce(port: int, out: int) -> None:
    """Print the URL on the saved stdout once /ok answers, then close it."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=1) as response:
                if response.status == 200:
                    with os.fdopen(out, "w") as stdout:
                        stdout.write(f"langgraph dev listening on {url}\n")
                    return
        except OSError:
            pass
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=10, help="--n-jobs-per-worker (10)")
    parser.add_argument("--memory-only", action="store_true", help="no .langgraph_api files")
    parser.add_argument(
        "--allow-blocking", action="store_true", help="passed on: no blockbuster checks"
    )
    args = parser.parse_args()
    # `langgraph dev` silently moves to another port when the one asked is taken (and would
    # bind port 0 without saying which): refuse instead, or pick a free one for 0.
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError as exc:
            parser.error(f"port {args.port}: {exc}")
        args.port = probe.getsockname()[1]

    os.environ.setdefault("LANGGRAPH_CLI_NO_ANALYTICS", "1")
    os.environ.setdefault("LANGGRAPH_NO_VERSION_CHECK", "true")
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # langgraph-api logs each run at INFO
    os.environ.setdefault("LOG_COLOR", "false")
    if args.memory_only:
        # `langgraph dev` forces LANGGRAPH_DISABLE_FILE_PERSISTENCE=false (langgraph.json's
        # disable_persistence is dropped by its config validation), but the in-memory
        # runtime reads it when first imported: import it now, with it set.
        os.environ["LANGGRAPH_DISABLE_FILE_PERSISTENCE"] = "true"
        import langgraph_runtime_inmem._persistence
        import langgraph_runtime_inmem.checkpoint  # noqa: F401

    work = Path(tempfile.mkdtemp(prefix="langgraph-peer-"))
    for name in ("agent.py", "langgraph.json"):
        (work / name).symlink_to(APP / name)
    os.chdir(work)

    # The server logs to stdout: keep stdout's pipe for the one URL line only.
    out = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    threading.Thread(target=announce, args=(args.port, out), daemon=True).start()

    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler it found:
    # make that one an exit, so the temporary folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from langgraph_cli.cli import cli

    argv = ["dev", "--no-browser", "--no-reload", "--host", "127.0.0.1"]
    argv += ["--port", str(args.port), "--config", "langgraph.json"]
    argv += ["--n-jobs-per-worker", str(args.jobs), "--server-log-level", "WARNING"]
    if args.allow_blocking:
        argv.append("--allow-blocking")
    try:
        cli.main(args=argv, prog_name="langgraph", standalone_mode=False)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
