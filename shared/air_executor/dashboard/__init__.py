"""The web dashboard: jobs, a job's graph, timeline, results and logs, analytics, live updates.

`air-executor dashboard` serves it (README "Dashboard"). It is a reader of the base folder
like `air-executor status`: every job file is read through the job store, every action
goes through the client API under the job lock, and everything a job holds is data,
escaped wherever it is shown. Installed with the extra `air-executor[dashboard]`.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
