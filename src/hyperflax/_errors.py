"""The exception tree of hyperflax: every error it raises is a :class:`HyperflaxError`.

Each error is also the built-in type it has always been (a ``DataError`` is a ``ValueError``),
so ``except ValueError`` keeps working. Which errors stop a whole search is decided here: a
:class:`FatalError` (and its subclasses) ends the search at once; any other exception fails
only its own trial.
"""

from __future__ import annotations

from pathlib import Path


class HyperflaxError(Exception):
    """The base of every exception hyperflax raises.

    Example:
        >>> import hyperflax as hx
        >>> issubclass(hx.SearchSpaceError, hx.HyperflaxError)
        True
    """


class FatalError(HyperflaxError):
    """Raised inside a trial, it stops the whole search at once (the trial is recorded failed).

    Raise it from your objective when no other trial could succeed either (a missing file, a
    wrong credential); any other exception fails only its own trial and the search goes on.

    Example:
        >>> import hyperflax as hx
        >>> def objective(hp):
        ...     raise hx.FatalError("the training data is gone")
    """


class SearchSpaceError(FatalError, ValueError):
    """A search space is defined wrongly; raised at definition time, never retried."""


class DataError(FatalError, ValueError):
    """The data given to ``fit``, ``evaluate`` or ``predict`` is invalid; nothing was compiled.

    A tuner stops the whole search on it at once: every trial would fail the same way.
    """


class NonFiniteLossError(HyperflaxError, FloatingPointError):
    """The training loss became NaN or infinite; the trial fails, the search goes on.

    Example:
        >>> issubclass(NonFiniteLossError, FloatingPointError)
        True
    """


class SearchFailedError(HyperflaxError, RuntimeError):
    """Too many trials in a row failed; the search stopped."""


class ArtifactError(HyperflaxError, ValueError):
    """A directory is not a valid hyperflax artifact (missing, foreign, corrupted or too new).

    Args:
        path: The artifact directory (or the file inside it) that is at fault.
        problem: What is wrong with it, in words.

    Example:
        >>> str(ArtifactError("models/digits", "no hyperflax.json"))
        "invalid hyperflax artifact 'models/digits': no hyperflax.json"
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"invalid hyperflax artifact '{path}': {problem}")


class TimeLimitError(FatalError, RuntimeError):
    """The time limit left too little time for the next model (or, from ``fit``, for any).

    Inside a search it stops the search; from ``fit`` it means no model finished in time.

    Example:
        >>> issubclass(TimeLimitError, RuntimeError)
        True
    """


class StudyMismatchError(HyperflaxError, ValueError):
    """A study in the project directory was made for other data or settings; it is not resumed.

    Example:
        >>> issubclass(StudyMismatchError, ValueError)
        True
    """


class StorageUnavailableError(FatalError, ConnectionError):
    """The study's database kept failing (connection lost, server down) past the retry bound.

    Transient database errors are retried with backoff first; this ends the search when they
    last longer. Completed trials are in the database; rerun the search to resume.
    """
