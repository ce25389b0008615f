"""Readers for swap networks released in other repositories' formats (kept apart from the model code)."""
