"""The Swarm launcher: every task attempt one Swarm service, on this engine made a one-node swarm.

The semantic suite (test_same_semantics.py) runs on it too; these tests cover what is Swarm's
own: the service spec, placement, Swarm's reasons for never starting a runner, adoption after
a manager's death, and the volume from config.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from air_executor_manager.launchers.docker_mounts import api_version
from conftest import Base, ManagerProcess, gated_task, wait_for
from taskkit import standby

from containers.conftest import our_containers, our_services

pytestmark = pytest.mark.docker


def our_swarm_tasks(client: Any, marker: str) -> list[str]:
    """Swarm's own task records of our runners (a removed service must not leave them behind)."""
    return [
        t["ID"]
        for t in client.api.tasks()
        if marker in ((t["Spec"].get("ContainerSpec") or {}).get("Labels") or {}).get("air-executor.volume", "")
    ]


def nothing_left(client: Any, base: Base) -> bool:
    marker = str(base.path)
    return not (our_services(client, marker) or our_containers(client, marker) or our_swarm_tasks(client, marker))


def gate_of(base: Base, job: str, name: str = "gate") -> Path:
    return base.job_dir(job) / "logs" / name


def test_each_attempt_is_one_hardened_service_recorded_then_removed(
    swarm_base: Base, swarm: Any, manager_factory: Any
) -> None:
    """A runner service carries the container launcher's hardening, limits as limits and reservations,
    the config's placement, and runs once; its Swarm task (id, node, exit code) goes into the attempt's
    history; afterwards no service, task or container of it is left."""
    swarm_base.config(
        runner_cpus=0.5,
        runner_memory="256m",
        swarm={"constraints": ["node.role==manager"], "preferences": ["node.labels.zone"]},
    )
    manager = manager_factory().start()
    probe = "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; id -u; touch /root-is-writable 2>/dev/null || echo ro"
    gate = gate_of(swarm_base, "svc")
    swarm_base.submit(
        "svc",
        [
            {
                **gated_task("held", gate),
                "args": ["-c", f"{probe}; " + gated_task("held", gate)["args"][1]],
                "container_options": {"pids_limit": 64, "read_only_root": True, "shm_size": "32m"},
            },
            {"id": "flaky", "command": "sh", "args": ["-c", "exit 3"], "retries": 1, "retry_delay": 0.1},
        ],
        max_parallel=2,
    )
    wait_for(lambda: "before" in swarm_base.log("svc", "held"), what="the held task to start")
    (service,) = swarm.api.services(filters={"label": ["air-executor.job=svc", "air-executor.task=held"]})
    spec = service["Spec"]
    container = spec["TaskTemplate"]["ContainerSpec"]
    if api_version(swarm) >= (1, 43):
        assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    else:  # moby/moby#44312: these engines keep a removed job's task forever
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
    assert container["User"] == "10001:10001" and container["CapabilityDrop"] == ["ALL"]
    assert container["ReadOnly"] is True and container["Labels"]["air-executor.job"] == "svc"
    assert {"Target": "/dev/shm", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 32 * 1024**2}} in container["Mounts"]
    resources = spec["TaskTemplate"]["Resources"]
    assert resources["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * 1024**2, "Pids": 64}
    assert resources["Reservations"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * 1024**2}
    placement = spec["TaskTemplate"]["Placement"]
    assert placement["Constraints"] == ["node.role==manager"]
    assert placement["Preferences"] == [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]
    gate.touch()
    assert swarm_base.wait_state("svc")["state"] == "failed", manager.log()

    lines = swarm_base.log("svc", "held").splitlines()
    assert lines[0].split() == ["CapEff:", "0000000000000000"] and lines[2:4] == ["10001", "ro"]
    # What Swarm cannot do is said, not dropped: no-new-privileges only from API 1.46 (README "Scaling out").
    if api_version(swarm) >= (1, 46):
        assert lines[1].split() == ["NoNewPrivs:", "1"]
    else:
        assert lines[1].split() == ["NoNewPrivs:", "0"]
        assert "cannot set no-new-privileges on services" in manager.log()
    node = swarm.info()["Name"]
    held, flaky = swarm_base.task("svc", "held"), swarm_base.task("svc", "flaky")
    attempts = [held["history"][-1], *flaky["history"]]
    assert [a["exit_code"] for a in attempts] == [0, 3, 3]
    assert len({a["service"] for a in attempts}) == len({a["swarm_task_id"] for a in attempts}) == 3
    assert all(a["node"] == node and a["runner_id"] == a["service"] for a in attempts)
    assert flaky["history"][0]["swarm_state"] == "failed"
    wait_for(lambda: nothing_left(swarm, swarm_base), what="runner services, tasks and containers to be removed")
    manager.stop()


def test_runners_swarm_cannot_start_fail_with_swarm_reason(swarm_base: Base, manager_factory: Any) -> None:
    """No node fits, no such image, an option a service cannot have, a placement outside the
    operator's policy: each fails its task with one line saying why; the job's other task runs."""
    swarm_base.config(
        runner_start_timeout=3,
        task_policy={"placement": ["node.labels.*==*"], "images": ["missing/*"], "devices": ["/dev/null"]},
    )
    manager = manager_factory().start()
    swarm_base.submit(
        "unfit",
        [
            {"id": "nowhere", "command": "true", "container_options": {"placement": ["node.labels.nope==1"]}},
            {"id": "no-image", "command": "true", "image": "missing/image:1"},
            {"id": "device", "command": "true", "container_options": {"devices": ["/dev/null:/dev/x"]}},
            {"id": "outside", "command": "true", "container_options": {"placement": ["node.hostname==other"]}},
            {"id": "fine", "command": "echo", "args": ["ok"]},
        ],
        max_parallel=5,
    )
    assert swarm_base.wait_state("unfit")["state"] == "failed", manager.log()
    tasks = {t["id"]: t for t in swarm_base.tasks("unfit")}
    assert tasks["fine"]["status"] == "completed"
    assert tasks["nowhere"]["error"] == (
        "runner never started: Swarm could not start it within 3 s "
        "(no suitable node (scheduling constraints not satisfied on 1 node))"
    )
    assert tasks["nowhere"]["history"][-1]["swarm_state"] == "pending"
    assert tasks["no-image"]["error"] == "runner never started: Swarm rejected it: No such image: missing/image:1"
    assert tasks["device"]["error"] == (
        "container_options.devices cannot be given to a Swarm service; run such tasks under launcher: docker"
    )
    assert "container_options.placement 'node.hostname==other' is not allowed" in tasks["outside"]["error"]
    assert "task_policy.placement" in tasks["outside"]["error"]
    assert all("\n" not in str(t["error"]) for t in tasks.values())
    manager.stop()


def test_a_killed_manager_adopts_its_services_and_cleans_ended_ones(
    swarm_base: Base, swarm: Any, manager_factory: Any
) -> None:
    """SIGKILL the manager mid-job: a runner that ended meanwhile has its service removed by the next
    manager, a runner still going is adopted; each task's side effect happens once."""
    counted = swarm_base.job_dir("adopt") / "logs" / "count"
    gate_a, gate_b = gate_of(swarm_base, "adopt", "a"), gate_of(swarm_base, "adopt", "b")

    def counting(task_id: str, gate: Path) -> dict[str, Any]:
        task = gated_task(task_id, gate)
        return {**task, "args": ["-c", f"echo {task_id} >> {counted}; " + task["args"][1]]}

    first = manager_factory().start()
    swarm_base.submit(
        "adopt",
        [counting("a", gate_a), counting("b", gate_b), {"id": "c", "command": "true", "dependencies": ["a", "b"]}],
        max_parallel=2,
    )
    wait_for(lambda: counted.exists() and len(counted.read_text().split()) == 2, what="both tasks to start")
    first.kill()
    gate_a.touch()
    wait_for(lambda: "after" in swarm_base.log("adopt", "a"), what="task a to end with no manager")
    second = manager_factory().start()
    wait_for(lambda: "adopted the live runner" in second.log(), what="the new manager to adopt b's service")
    gate_b.touch()
    assert swarm_base.wait_state("adopt")["state"] == "completed", second.log()
    assert sorted(counted.read_text().split()) == ["a", "b"]
    assert all(t["attempts"] == 1 for t in swarm_base.tasks("adopt"))
    wait_for(lambda: nothing_left(swarm, swarm_base), what="runner services, tasks and containers to be removed")
    second.stop()


def test_the_volume_comes_from_config(swarm_base: Base, swarm: Any, manager_factory: Any) -> None:
    """`swarm.volume` with driver options: each runner service mounts that named volume (made by its
    driver on the node), here the local driver binding the base folder, as NFS options would mount a share."""
    volume = f"ae-test-{uuid.uuid4().hex[:12]}"
    options = {"type": "none", "o": "bind", "device": str(swarm_base.path)}
    swarm_base.config(swarm={"volume": volume, "volume_driver": "local", "volume_options": options})
    manager = manager_factory().start()
    gate = gate_of(swarm_base, "vol")
    try:
        swarm_base.submit("vol", [gated_task("held", gate), {"id": "after", "command": "true"}])
        wait_for(lambda: "before" in swarm_base.log("vol", "held"), what="the held task to start")
        (name,) = our_services(swarm, volume)
        mounts = swarm.api.inspect_service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
        mount = next(m for m in mounts if m["Type"] == "volume")
        assert mount["Source"] == volume
        assert mount["VolumeOptions"]["DriverConfig"] == {"Name": "local", "Options": options}
        if api_version(swarm) >= (1, 45):
            assert mount["Target"] == str(swarm_base.job_dir("vol")) and mount["VolumeOptions"]["Subpath"] == "jobs/vol"
        else:
            assert mount["Target"] == str(swarm_base.path)
            assert "cannot mount volume subpaths" in manager.log()
        gate.touch()
        assert swarm_base.wait_state("vol")["state"] == "completed", manager.log()
        assert swarm_base.log("vol", "held").split() == ["before", "after"]
        wait_for(lambda: not our_services(swarm, volume), what="runner services to be removed")
    finally:
        manager.stop()
        wait_for(lambda: not our_containers(swarm, volume), what="runner containers to be removed")
        swarm.volumes.get(volume).remove(force=True)


def test_a_standby_manager_takes_over_the_swarm_runners(swarm_base: Base, swarm: Any) -> None:
    """Two managers on one base with the Swarm launcher: the active one SIGKILLed mid-job, the
    standby adopts its services and finishes the job, each task's side effect counted once."""
    swarm_base.config(max_concurrent_runners=4)
    active = ManagerProcess(swarm_base).start()
    waiting = standby(swarm_base)
    marks = swarm_base.job_dir("work") / "logs" / "marks"
    try:
        tasks = [{"id": f"t{i}", "command": "sh", "args": ["-c", f"echo t{i} >> {marks}; sleep 0.5"]} for i in range(6)]
        swarm_base.submit("work", tasks, max_parallel=2)
        wait_for(lambda: marks.exists(), what="work to start")
        active.kill()
        wait_for(lambda: "taking over on" in (swarm_base.path / "standby.log").read_text(), what="the takeover")
        assert swarm_base.wait_state("work")["state"] == "completed", (swarm_base.path / "standby.log").read_text()
        assert sorted(marks.read_text().split()) == [f"t{i}" for i in range(6)]
        assert all(t["attempts"] == 1 for t in swarm_base.tasks("work"))
        wait_for(lambda: nothing_left(swarm, swarm_base), what="runner services, tasks and containers to be removed")
    finally:
        waiting.send_signal(signal.SIGTERM)
        waiting.wait(timeout=30)
        active.stop()


def test_cancelling_a_runner_swarm_never_placed_removes_its_service(swarm_base: Base, swarm: Any) -> None:
    """A runner service Swarm holds pending (no node fits) is stopped by removing its service, the way a
    runner on another node is: the job is cancelled, its task recorded killed, and nothing is left."""
    from air_executor.client import cancel_job

    swarm_base.config(runner_start_timeout=120, stop_grace=1, task_policy={"placement": ["node.labels.*==*"]})
    manager = ManagerProcess(swarm_base).start()
    stuck = {"id": "stuck", "command": "true", "container_options": {"placement": ["node.labels.nope==1"]}}
    swarm_base.submit("pending", [stuck, {"id": "later", "command": "true", "dependencies": ["stuck"]}])
    wait_for(lambda: our_services(swarm, str(swarm_base.path)), what="the runner service")
    cancel_job(swarm_base.store, "pending")
    assert swarm_base.wait_state("pending")["state"] == "cancelled", manager.log()
    wait_for(lambda: swarm_base.task("pending", "stuck")["status"] != "running", what="the stuck task to stop")
    assert [(t["id"], t["status"]) for t in swarm_base.tasks("pending")] == [
        ("stuck", "cancelled"),
        ("later", "cancelled"),
    ]
    assert swarm_base.task("pending", "stuck")["history"][-1]["result"] == "killed"
    wait_for(lambda: nothing_left(swarm, swarm_base), what="the pending service to be removed")
    manager.stop()
