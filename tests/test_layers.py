"""The house shows its layers: no import climbs a floor, no module imports itself in a circle,
and the pure floors import no I/O. Every import counts: top-level, inside functions, and under
``TYPE_CHECKING`` (a cycle hidden there is still a cycle in the design).

The floors, lowest first (a package may import only from lower floors, never from its own
floor's other packages):

0. ``errors``
1. ``protocol``, ``config_files``
2. ``policy``, ``context``, ``clock``, ``heap``   (``policy`` and ``context`` are pure)
3. ``store``
4. ``client``
5. ``agent``, ``sim``, ``observe``
6. ``team``
7. ``declare`` (agents and teams as config data)
8. ``chat``, ``team_console``, ``serve``
9. ``cli``, and the faces: ``chorus`` itself, ``testing``
10. ``__main__``
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "chorus"

FLOORS = {
    "errors": 0,
    "protocol": 1,
    "config_files": 1,
    "policy": 2,
    "context": 2,
    "clock": 2,
    "heap": 2,
    "store": 3,
    "client": 4,
    "agent": 5,
    "sim": 5,
    "observe": 5,
    "team": 6,
    "declare": 7,
    "chat": 8,
    "team_console": 8,
    "serve": 8,
    "cli": 9,
    "chorus": 9,
    "testing": 9,
    "__main__": 10,
}
PURE = {"protocol", "policy", "context"}
# Pure modules inside an I/O package: the rules a driver beside them applies.
PURE_MODULES = {
    "team.envelope",
    "team.allocation",
    "team.consensus",
    "team.events",
    "team.prompts",
    "agent.capability",
    "serve.auth",
    "serve.budget",
}
IO_MODULES = {
    "aiohttp",
    "asyncio",
    "http",
    "selectors",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "threading",
    "time",
    "urllib",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Module -> every module it imports (chorus and foreign), at any depth of its code."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        graph[name]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                graph[name].add(node.module)
                if node.module.startswith("chorus"):
                    # ``from chorus.x import y`` may name the submodule chorus.x.y.
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        if (SRC.parent / Path(*sub.split("."))).with_suffix(".py").exists():
                            graph[name].add(sub)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "chorus"


def test_every_package_has_a_floor() -> None:
    missing = {_package(m) for m in _imports()} - set(FLOORS)
    assert not missing, f"give these a floor in FLOORS: {sorted(missing)}"


def test_no_import_climbs_a_floor_or_crosses_one() -> None:
    wrong = []
    for module, targets in _imports().items():
        here = _package(module)
        for target in targets:
            if not target.startswith("chorus"):
                continue
            there = _package(target)
            if there == here:
                continue
            if FLOORS[there] >= FLOORS[here]:
                wrong.append(f"{module} imports {target} ({here} is on floor {FLOORS[here]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    graph = {
        m: {t for t in ts if t.startswith("chorus") and t != m} for m, ts in _imports().items()
    }
    # Importing a package runs its __init__, which may import its own modules: an edge
    # from a module to its own package face is not a cycle through the design.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    cycles = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


def _pure(module: str) -> bool:
    return _package(module) in PURE or module.removeprefix("chorus.") in PURE_MODULES


def test_the_pure_floors_import_no_io() -> None:
    wrong = []
    for module, targets in _imports().items():
        if not _pure(module):
            continue
        for target in targets:
            if target.split(".")[0] in IO_MODULES:
                wrong.append(f"{module} imports {target}")
            elif (
                target.startswith("chorus.")
                and not _pure(target)
                and _package(target) != "errors"
                and not (SRC / Path(*target.split(".")[1:]) / "__init__.py").exists()
            ):
                wrong.append(f"{module} (pure) imports {target}, which is not")
    assert not wrong, "\n".join(sorted(wrong))
