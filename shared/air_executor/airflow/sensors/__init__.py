"""Sensors of the Air-Executor provider."""
