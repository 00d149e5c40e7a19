"""The shape of the house: the core at the bottom imports no feature, the features import
nothing of the application on top, and the queue's and the transfer's decisions are pure
(they import no edge: no Asterisk client, no Redis, no SQL)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = "core"
FEATURES = ("agi", "ari_app", "cdr", "queues", "redlist", "transfer")
APPLICATION = "hotline"
PURE = ("queues/policy.py", "transfer/machine.py", "ari_app/translate.py", "core/outcomes.py")
"""Decisions: events in, actions out. They may not touch an edge."""
EDGES = ("redis", "sqlalchemy", "httpx", "websockets", "panoramisk", "ari_app.client", "asyncio")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
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


def test_the_decisions_touch_no_edge() -> None:
    touching = {
        f"{name} imports {module}"
        for name in PURE
        for module in imports_of(REPO / name)
        if any(module == edge or module.startswith(edge + ".") for edge in EDGES)
    }
    assert not touching, sorted(touching)
