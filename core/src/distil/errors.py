"""Errors a user can meet. Each says what happened, where, and what to do; each has a stable code."""

from __future__ import annotations


class DistilError(Exception):
    """Base class of every error distil raises on purpose."""

    code = "E000"

    def __str__(self) -> str:
        return f"[{self.code}] {super().__str__()}"


class ConfigError(DistilError):
    """A config file is invalid: the message names the dotted path of the bad key."""

    code = "E001"


class RegistryError(ConfigError):
    """A registered name does not exist: the message lists what does, and which package may have it."""

    code = "E002"


class PluginError(DistilError):
    """A plugin failed to load or registered something invalid: the message names the plugin."""

    code = "E003"


class DataError(DistilError):
    """Input data is malformed: the message names the file and line."""

    code = "E004"


class ParseError(DistilError):
    """A teacher's answer could not be turned into the task's output type."""

    code = "E005"


class ProviderError(DistilError):
    """A provider failed in a way that retrying will not fix (auth, bad request, model missing)."""

    code = "E006"


class TransientProviderError(ProviderError):
    """A provider failure that may succeed when retried: 429, 5xx, a timeout, a dropped connection.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one. Providers raise
    this (not the SDK's own exceptions) so that the teacher loop's retry policy is the only one.
    """

    code = "E008"

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RateLimitError(TransientProviderError):
    """HTTP 429: the provider asked us to slow down."""

    code = "E009"


class BudgetExceeded(DistilError):
    """The next request would exceed the run's budget cap."""

    code = "E007"


class StoreError(DataError):
    """The project store cannot be used: its path is a folder, or the file is not (or no longer) a
    distil store. The message names the path and what to do."""

    code = "E010"


class StudentTaskError(ConfigError):
    """The configured student cannot learn the configured task: the message names both."""

    code = "E011"


class TrainingDataError(DataError, ValueError):
    """The training data cannot train a student (none at all, or a single class).

    Also a ValueError, which ``train_student`` raised for "no training data" before."""

    code = "E012"


class NoStudentError(DataError):
    """No trained student can be loaded: none was trained yet, or its model files are gone.

    A DataError, which ``Project.predict`` raised for it before."""

    code = "E013"
