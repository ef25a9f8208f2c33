"""Offers and offer letters (issue 5)."""
