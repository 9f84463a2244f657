"""Matching a query photo against the catalogue's known whales."""
