"""Operators of the Air-Executor provider."""
