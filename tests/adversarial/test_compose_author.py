"""The compose stack against a naive, non-root job author: a container running as the owner of jobs/
(uid 10001, as Airflow does) writes a job with the seeds' client (plain json.dump, no lock). The root
manager runs it in runner containers that can lock and record, and each sees only its own job folder
of the named volume."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from conftest import REPO, wait_for
from containers.conftest import RUNNER_IMAGE, our_containers
from containers.test_compose import compose, manager_up

pytestmark = pytest.mark.docker

JOBS = "/data/.air-executor/jobs"
SEED_CLIENT = (REPO / "tests" / "adversarial" / "test_ownership.py").read_text().split('SEED_CLIENT = """')[1]
SEED_CLIENT = SEED_CLIENT.split('"""')[0]


def test_a_naive_non_root_writer_through_the_compose_volume(docker_client: Any) -> None:
    project = f"aeauthor{uuid.uuid4().hex[:8]}"
    volume = f"{project}_air-executor-data"
    try:
        manager_up(project, docker_client)
        # What airflow-init does: hand jobs/ to uid 10001.
        chown = compose(project, "exec", "-T", "manager", "sh", "-c", f"mkdir -p {JOBS} && chown 10001:10001 {JOBS}")
        assert chown.returncode == 0, chown.stderr
        spec = [
            ["echo", ["hello"], []],
            ["sh", ["-c", 'id -u; ls "$AIR_EXECUTOR_BASE_PATH/jobs"'], ["task-1"]],
            ["sh", ["-c", f"cat {JOBS}/other/state.json || echo blind"], ["task-2"]],
        ]
        for name, tasks in (("other", [["true", [], []]]), ("naive", spec)):
            docker_client.containers.run(
                RUNNER_IMAGE,
                ["-c", SEED_CLIENT, "/data/.air-executor", name, json.dumps(tasks)],
                entrypoint=["python"],
                user="10001:10001",
                volumes={volume: {"bind": "/data", "mode": "rw"}},
                remove=True,
            )

        def state(name: str) -> dict[str, Any]:
            out = compose(project, "exec", "-T", "manager", "cat", f"{JOBS}/{name}/state.json")
            return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}

        final = wait_for(lambda: state("naive").get("state") in ("completed", "failed") and state("naive"), 120)
        assert final["state"] == "completed", (final, compose(project, "logs", "manager").stdout[-3000:])
        logs = {
            task: compose(project, "exec", "-T", "manager", "cat", f"{JOBS}/naive/logs/{task}.log").stdout
            for task in ("task-2", "task-3")
        }
        assert logs["task-2"].split() == ["10001", "naive"], logs
        assert logs["task-3"].splitlines()[-1] == "blind", logs
        owners = compose(project, "exec", "-T", "manager", "sh", "-c", f"find {JOBS}/naive -printf '%u %p\\n'")
        assert {line.split()[0] for line in owners.stdout.splitlines()} == {"10001"}, owners.stdout
        wait_for(lambda: not our_containers(docker_client, volume), what="runner containers to be removed")
    finally:
        down = compose(project, "down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
