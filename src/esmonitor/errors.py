"""The one exception tree of esmonitor.

Every error a user can cause derives from :class:`EsmonitorError`; the CLI turns these into a
message and an exit code instead of a traceback. Each error carries enough context (file, row,
column, value, rule) to say what happened and how to fix it.
"""

from __future__ import annotations


class EsmonitorError(Exception):
    """Base of every error esmonitor raises on purpose."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UserInputError(EsmonitorError, ValueError):
    """The user gave something esmonitor cannot use (a path, an option, a file)."""

    exit_code = 2


class InputFileError(UserInputError):
    """A whole input file cannot be read (unknown format, no header, unknown entity)."""

    def __init__(self, path: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path


class UnreadableInputError(UserInputError):
    """The engine could not read an input file while processing it (corrupt or malformed data)."""


class MappingError(UserInputError):
    """A column-mapping file is malformed or names an unknown entity or field."""


class PseudonymKeyError(EsmonitorError):
    """The pseudonymization key is missing, unreadable, or not the key this warehouse was built with."""

    exit_code = 3


class WarehouseError(EsmonitorError):
    """The warehouse cannot be opened or is not an esmonitor warehouse."""

    exit_code = 4
