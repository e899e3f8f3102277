"""Every error Air-Executor raises on purpose; the CLI prints them as one line."""

from __future__ import annotations


class AirExecutorError(Exception):
    """Base class: the message is a complete, user-facing sentence."""

    exit_code = 1


class InvalidName(AirExecutorError):
    """A job or task name that could escape the jobs folder or is not allowed."""


class InvalidJob(AirExecutorError):
    """A job or task definition that cannot run (bad fields, duplicate ids, ...)."""


class JobNotFound(AirExecutorError):
    """No job folder of that name."""


class JobExists(AirExecutorError):
    """Submitting a job whose folder already exists."""


class FileUnreadable(AirExecutorError):
    """A job file that is missing, half written or not valid JSON."""


class JobFileRefused(AirExecutorError):
    """A job file that is not a plain file (a symlink, FIFO, device, hard link) or is too large
    or too deep: the job is invalid, whatever a later read would give."""


class NewerFormat(JobFileRefused):
    """Files of a newer release's format: left untouched, never run or rewritten by this one."""


class LockTimeout(AirExecutorError):
    """The job's lock was held by someone else for too long."""


class LimitExceeded(AirExecutorError):
    """A guardrail on dynamic tasks (task count, spawn depth) was hit."""


class ConfigError(AirExecutorError):
    """An invalid config file or environment override."""


class ManagerError(AirExecutorError):
    """Starting or stopping the manager failed."""
