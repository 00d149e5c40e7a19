"""The shape of the house: the core at the bottom imports no feature, the features import
nothing of the application on top, and the queue's and the transfer's decisions are pure
(they import no edge: no Asterisk client, no Redis, no SQL)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = "core"
FEATURES = (
    "agi",
    "ari_app",
    "call",
    "callback",
    "cdr",
    "desk",
    "guard",
    "knowledge",
    "queues",
    "recording",
    "redlist",
    "return_visit",
    "transfer",
)
APPLICATION = "hotline"
PURE = (
    "call.phases",
    "call.waiting",
    "call.talking",
    "call.ending",
    "call.calling_back",
    "call.state",
    "callback.ticket",
    "callback.steps",
    "call.events",
    "queues.steps",
    "queues.fallback",
    "guard.bans",
    "knowledge.index",
    "knowledge.text",
    "return_visit.phases",
    "return_visit.rules",
    "desk.rules",
    "transfer.machine",
    "transfer.state",
    "ari_app.translate",
    "core.outcomes",
)
"""Decisions: events in, actions out. They may not touch an edge."""
EDGES = ("redis", "sqlalchemy", "httpx", "websockets", "panoramisk", "alembic", "ari_app.client")
"""Neither the decisions nor anything they import may use these."""
OWN_LOOP = ("asyncio",)
"""The decisions may not wait on anything themselves (the clock they read has a loop)."""
HOUSE = (CORE, *FEATURES, APPLICATION)
ENGINE = ("ari_app", "call", "callback", "queues", "transfer")
"""Where every call goes through: no module there may grow past what one reads at once."""
ENGINE_MODULE_LINES = 500


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from transfer import machine`` imports the module transfer.machine
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def files_of(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_the_core_imports_no_feature_and_not_the_application() -> None:
    upward = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in files_of(CORE)
        for module in imports_of(path)
        if top(module) in (*FEATURES, APPLICATION)
    }
    assert not upward, sorted(upward)


def test_no_feature_imports_the_application() -> None:
    upward = {
        f"{path.relative_to(REPO)} imports {module}"
        for package in FEATURES
        for path in files_of(package)
        for module in imports_of(path)
        if top(module) == APPLICATION
    }
    assert not upward, sorted(upward)


def path_of(module: str) -> Path:
    base = REPO / module.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def closure(module: str) -> set[str]:
    """The hotline's own modules that ``module`` imports, directly or not."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or not path_of(name).is_file():
            continue  # a name imported from a module (``transfer.state.Route``)
        seen.add(name)
        todo += [m for m in imports_of(path_of(name)) if top(m) in HOUSE]
    return seen


def touches(module: str, edges: tuple[str, ...]) -> set[str]:
    return {
        found
        for found in imports_of(path_of(module))
        if any(found == edge or found.startswith(edge + ".") for edge in edges)
    }


def test_every_decision_named_is_a_module_here() -> None:
    missing = [name for name in PURE if not path_of(name).is_file()]
    assert not missing, f"renamed or gone: {missing} (update PURE)"


def test_no_engine_module_is_longer_than_one_reads_at_once() -> None:
    long = {
        str(path.relative_to(REPO)): count
        for package in ENGINE
        for path in files_of(package)
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > ENGINE_MODULE_LINES
    }
    assert not long, f"split these (over {ENGINE_MODULE_LINES} lines): {long}"


def test_the_decisions_touch_no_edge() -> None:
    touching = {
        f"{name} (through {module}) imports {edge}"
        for name in PURE
        for module in closure(name)
        for edge in touches(module, EDGES)
    }
    touching |= {f"{name} imports {edge}" for name in PURE for edge in touches(name, OWN_LOOP)}
    assert not touching, sorted(touching)


def test_every_floor_of_the_house_is_installed_and_type_checked() -> None:
    """The ``hotline`` command imports them from the installed project: a folder missing
    from pyproject.toml works in the tests (run from here) and fails in production."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    installed = set(project["tool"]["setuptools"]["packages"])
    checked = set(project["tool"]["mypy"]["packages"])
    folders = {path.parent.name for path in REPO.glob("*/__init__.py")}
    assert folders - {"tests"} <= installed, sorted(folders - installed - {"tests"})
    assert folders <= checked, sorted(folders - checked)
