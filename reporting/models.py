"""Quarterly finance reports (issue 7)."""
