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


#: Longest error detail shown on one line (a database driver's message can run to kilobytes).
MAX_DETAIL_CHARS = 300


def first_line(error: BaseException, limit: int = MAX_DETAIL_CHARS) -> str:
    """The first non-blank line of an error's text (its type's name if it has none), cut to ``limit``.

    Library errors often carry a traceback or a SQL statement after their first line; a user needs
    the first line only, and the one-line error policy of the CLI and the dashboard needs no more.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
