"""Air-Executor: jobs made of tasks, kept as JSON files, run by ephemeral runners.

This package is the library every part shares (models, the job store and its
lock, config, the client API, the CLI). It imports nothing heavy at import
time, because the runner imports it on every task.
"""

__version__ = "0.1.0"
