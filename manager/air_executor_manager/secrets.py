"""The manager's side of secrets (README "Trust model"): each secret a task names is read at its
launch from the operator's folder, for a job folder owner it is granted to, and handed to the
runner in its environment. Nothing of a value is ever written to the volume or the manager's log.

Where a secret `NAME` is read from, in order: `<secrets_dir>/NAME` (config `secrets_dir`, a folder
outside the base folder that only its owner may enter), then `/run/secrets/NAME` (config
`docker_secrets`, where Docker mounts a compose service's secrets). Each file must be a regular
file readable by its owner alone; its value is its text, without one trailing newline.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable

from air_executor.config import Config
from air_executor.core.secrets import SecretRefused, granted
from air_executor.errors import ConfigError

DOCKER_SECRETS = "/run/secrets"
MAX_SECRET_BYTES = 64 * 1024  # an environment variable much larger than this is no secret but a file


def check_secrets_dir(config: Config) -> None:
    """Refuse, naming the setting, a `secrets_dir` that is missing, not a folder, or open to others."""
    folder = config.secrets_dir
    if folder is None:
        return
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise ConfigError(f"config: secrets_dir {folder} is not usable: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config: secrets_dir {folder} is not a folder")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"config: secrets_dir must be a folder only its owner can read (chmod 700), got {folder} "
            f"with mode {stat.S_IMODE(info.st_mode):04o}"
        )


def folders(config: Config) -> list[str]:
    """Where secrets are looked for, in order."""
    return [path for path, on in ((config.secrets_dir, True), (DOCKER_SECRETS, config.docker_secrets)) if path and on]


def resolve(config: Config, names: Iterable[str], uid: int) -> dict[str, str]:
    """The values of the secrets `names` for a job folder owned by `uid`; SecretRefused (one line)
    for the first one not granted to that owner, not defined, or not safely readable."""
    names = list(names)
    if not names:
        return {}
    user = _user_name(uid)
    allowed = granted(config.secret_grants, uid, user)
    for name in names:
        if name not in allowed:
            owner = f"uid {uid}" + (f" ({user})" if user else "")
            raise SecretRefused(
                f"secret {name!r} is not granted to the job folder's owner, {owner}; the operator can grant it "
                "with secret_grants in the manager's config"
            )
    return {name: read_secret(config, name) for name in names}


def read_secret(config: Config, name: str) -> str:
    where = folders(config)
    for folder in where:
        try:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SecretRefused(f"secret {name!r} cannot be read from {folder}: {exc.strerror}") from None
        try:
            return _value(fd, name, os.path.join(folder, name))
        finally:
            os.close(fd)
    looked = " or ".join(where) if where else "nowhere (the config sets neither secrets_dir nor docker_secrets)"
    raise SecretRefused(f"secret {name!r} is not defined: no file {name} in {looked}")


def _value(fd: int, name: str, path: str) -> str:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise SecretRefused(f"secret {name!r}: {path} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretRefused(
            f"secret {name!r}: {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it"
        )
    data = os.read(fd, MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretRefused(f"secret {name!r}: {path} is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretRefused(f"secret {name!r}: {path} is not UTF-8 text") from None
    if "\0" in text:
        raise SecretRefused(f"secret {name!r}: {path} holds a NUL byte, which no environment variable can")
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None
