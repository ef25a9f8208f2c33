"""Deterministic demo data: `demo_build` makes it without a database (build.py), `demo_write`
stores it through the ledger kernel (write.py)."""

from budgets.demo.build import DEMO_PASSWORD, DEMO_SOURCE, DemoData, demo_build
from budgets.demo.write import demo_write

__all__ = ["DEMO_PASSWORD", "DEMO_SOURCE", "DemoData", "demo_build", "demo_write"]
