"""Secrets: names a task may ask for, who may have which, and what display hides (README "Trust model").

A task names secrets (`secrets: [DB_PASSWORD]`); their values never touch the volume: the
manager reads them from its own side at launch (config `secrets_dir`, or Docker's
`/run/secrets` with `docker_secrets`) for the job folders whose owner the operator granted
them to (`secret_grants`, default deny), and the runner puts them in the task's environment.
What is shown of a task (the dashboard, the runner's log) hides them as `***`, and hides the
values of `env` keys that look secret, as Airflow's secrets masker does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from air_executor.errors import AirExecutorError

SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"  # an environment variable's name, as it is injected
SECRET_NAME_RULE = "an environment variable name (a letter or '_', then letters, digits or '_', at most 100)"
MASK = "***"
ANY_OWNER = "*"  # secret_grants key: every job folder's owner
GRANTEE = r"^(\*|[0-9]+|[A-Za-z_][A-Za-z0-9_.-]{0,31})$"  # secret_grants key: '*', a uid or a user name
# Parts of an `env` key that make its value hidden from display (Airflow's sensitive field names).
SENSITIVE = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "key",
    "credential",
    "authorization",
    "bearer",
    "private",
    "cookie",
    "dsn",
    "connection_string",
    "webhook_url",
)
MIN_MASKED = 5  # an `env` value shorter than this is not hunted for in logs (Airflow's min_length_masked_secret)


class SecretRefused(AirExecutorError):
    """A task named a secret it may not have (not granted to its folder's owner) or that cannot be read."""


def check_secret_name(name: object) -> str:
    """The name if it is one a secret may have; ValueError naming the rule otherwise."""
    if not isinstance(name, str) or not re.match(SECRET_NAME, name):
        raise ValueError(f"each secret must be {SECRET_NAME_RULE}, got {name!r}")
    return name


def looks_secret(key: object) -> bool:
    """Whether an `env` key names something to hide (`DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN`...)."""
    if not isinstance(key, str):
        return False
    normal = re.sub(r"\W+", "_", key.strip().lower())
    return any(part in normal for part in SENSITIVE)


def masked_env(env: object) -> dict[str, str]:
    """A task's `env` as shown: values of keys that look secret are `***` (the file keeps them)."""
    if not isinstance(env, Mapping):
        return {}
    return {str(k): MASK if looks_secret(k) else str(v) for k, v in env.items()}


def granted(grants: Mapping[str, Iterable[str]], uid: int, user_name: str | None) -> set[str]:
    """The secrets `secret_grants` gives a job folder owned by `uid` (known as `user_name`)."""
    names: set[str] = set()
    for who in (ANY_OWNER, str(uid), user_name):
        if who is not None:
            names.update(grants.get(who, ()))
    return names


def mask_words(env: Mapping[str, str]) -> list[str]:
    """The values of a task's `env` keys that look secret, worth hunting for in its log."""
    return [value for key, value in env.items() if looks_secret(key) and len(value) >= MIN_MASKED]
