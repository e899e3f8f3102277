"""Extra options for runner containers, validated (config `container_options` or a task's), and
the Swarm launcher's settings (config `swarm`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# A Swarm placement constraint, as `docker service create --constraint` takes it.
CONSTRAINT = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*\s*(==|!=)\s*[^\s=!]+$")


def _constraint(value: str) -> str:
    if len(value) > 256 or not CONSTRAINT.match(value):
        raise ValueError(f"must be a Swarm constraint such as 'node.labels.gpu==true', got {value!r}")
    return value


Constraint = Annotated[str, AfterValidator(_constraint)]


class ExtraMount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, description="host path or volume name")
    target: str = Field(pattern=r"^/", description="absolute path in the container")
    type: Literal["bind", "volume"] = "bind"
    read_only: bool = True


class ContainerOptions(BaseModel):
    """The container settings a job may ask for; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

    shm_size: str | None = Field(None, pattern=r"^[0-9]+[bkmgBKMG]?$")
    devices: list[str] = Field(default_factory=list, description="host:container[:perms]")
    gpus: Literal["all"] | int | None = None
    runtime: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    network_mode: Literal["bridge", "none", "host"] | None = None
    mounts: list[ExtraMount] = Field(default_factory=list)
    pids_limit: int | None = Field(None, ge=16, le=1_000_000)
    read_only_root: bool = False
    # Where the runner may run (launcher: swarm only; one host has nowhere else to put it).
    placement: list[Constraint] = Field(default_factory=list, max_length=32)


class SwarmSettings(BaseModel):
    """Config `swarm`: how the Swarm launcher places runner services and gives them the volume."""

    model_config = ConfigDict(extra="forbid")

    volume: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="named volume")
    volume_driver: str = Field("local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
    volume_options: dict[str, str] = Field(default_factory=dict)
    constraints: list[Constraint] = Field(default_factory=list)
    preferences: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]] = Field(
        default_factory=list, description="node labels to spread runners over, e.g. node.labels.zone"
    )
