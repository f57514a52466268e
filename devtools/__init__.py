"""Helpers for developing claude-sync, shared by tests/ and bench/ (not part of the package)."""
