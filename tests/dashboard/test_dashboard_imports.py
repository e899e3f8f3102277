"""The dashboard is a client of the library: it imports `air_executor`, never the manager or the runner."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = (
    "import json, sys; import air_executor.dashboard.app, air_executor.cli.dashboard; "
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('air_executor_manager', 'air_executor_runner')))))"
)


def test_dashboard_imports_neither_manager_nor_runner() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []
