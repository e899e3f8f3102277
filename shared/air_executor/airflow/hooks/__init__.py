"""Hooks of the Air-Executor provider."""
