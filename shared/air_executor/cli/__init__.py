"""The `air-executor` command line: one module per command, shared parts in common.py."""
