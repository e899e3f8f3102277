"""The ephemeral runner: executes exactly one task, records its outcome, exits.

Run as ``python -m air_executor_runner BASE JOB TASK LAUNCH_ID``. It imports
only the standard library's light modules and `air_executor.storage`, because
its start-up cost is paid on every task. Exit codes are in `EXIT_*` below.
"""

EXIT_COMPLETED = 0  # the task completed
EXIT_FAILED = 1  # the task failed, timed out or was stopped; the outcome is recorded
EXIT_USAGE = 2  # wrong arguments
EXIT_STALE = 3  # the task no longer belongs to this launch: nothing was run
EXIT_UNRECORDED = 4  # the outcome could not be written to the job's files
