"""Triggers of the Air-Executor provider."""
