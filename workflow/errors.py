"""Errors that the CLI turns into one clear line on stderr and exit code 2.

Anything that is *not* a ``SegmentsError`` is an unexpected failure (exit 1).
"""


class SegmentsError(Exception):
    """Bad usage or bad input: the message is shown to the user as is, on one line."""

    exit_code = 2


class DataError(SegmentsError):
    """A data file is unreadable, structurally wrong, or has too many bad rows."""


class ModelNotFoundError(SegmentsError):
    """A registered model, version or alias does not exist."""


class StoreUnavailableError(SegmentsError):
    """The MLflow tracking store cannot be reached or opened."""


class GateError(SegmentsError):
    """A promotion gate refused a model version."""
