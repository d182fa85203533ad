"""Prefect flows: one per data type."""
