"""Extra options for runner containers, validated (config `container_options` or a task's)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
