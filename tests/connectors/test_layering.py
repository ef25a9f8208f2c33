"""connectors sits above budgets and people (docs/architecture.md): nothing below imports it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BELOW = ["budgets", "people", "notifications", "common"]


def test_nothing_below_connectors_imports_it():
    upward = []
    for app in BELOW:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                upward += [
                    f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("connectors")
                ]
    assert not upward, f"imports connectors from below it: {upward}"
