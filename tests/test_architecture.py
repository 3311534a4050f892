"""The architecture document's rooms table names every module, so the tree and its map agree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def test_every_module_is_in_the_rooms_table() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    modules = [p for d in ("printd", "optimizer", "fonts") for p in sorted((ROOT / d).rglob("*.py"))]
    named = [p.relative_to(ROOT).as_posix() for p in modules if not (p.name == "__init__.py" and only_a_docstring(p))]
    missing = [m for m in named if f"`{m}`" not in doc]
    assert not missing, f"not in docs/architecture.md's rooms table: {missing}"
