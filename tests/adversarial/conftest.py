"""The adversarial suite plays the job author against the real manager, runners and engine; it uses the
container tests' fixtures for the engine."""

from containers.conftest import docker_base, docker_client, docker_manager  # noqa: F401  (fixtures)
