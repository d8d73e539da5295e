"""The serving code uses slowapi through its public API only: no module under src/ imports a
name starting with ``_`` from slowapi, or reaches one through a slowapi module attribute."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def private_slowapi_uses(source: str) -> list[str]:
    """``module:name`` of every private slowapi name the source imports or reaches."""
    found: list[str] = []
    slowapi_aliases: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "slowapi":
            parts = node.module.split(".")
            found += [f"{node.module}:{p}" for p in parts if p.startswith("_")]
            found += [f"{node.module}:{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "slowapi":
                    found += [f"{alias.name}:{p}" for p in alias.name.split(".") if p[0] == "_"]
                    slowapi_aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in slowapi_aliases:
                found.append(f"{ast.unparse(node.value)}:{node.attr}")
    return found


def test_the_scan_finds_private_slowapi_names():
    sample = (
        "from slowapi import Limiter, _rate_limit_exceeded_handler\n"
        "from slowapi.middleware import _find_route_handler\n"
        "import slowapi.middleware\n"
        "slowapi.middleware._ASGIMiddlewareResponder\n"
    )
    assert private_slowapi_uses(sample) == [
        "slowapi:_rate_limit_exceeded_handler",
        "slowapi.middleware:_find_route_handler",
        "slowapi.middleware:_ASGIMiddlewareResponder",
    ]
    assert private_slowapi_uses("from slowapi.errors import RateLimitExceeded\n") == []


def test_no_module_in_src_uses_a_private_slowapi_name():
    modules = sorted(SRC.rglob("*.py"))
    assert any("slowapi" in m.read_text() for m in modules), "slowapi is not used in src/"
    offenders = {
        str(m.relative_to(SRC)): uses
        for m in modules
        if (uses := private_slowapi_uses(m.read_text()))
    }
    assert offenders == {}
