"""Errors raised by training."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite.

    Example:
        >>> issubclass(NonFiniteLossError, FloatingPointError)
        True
    """


class DataError(ValueError):
    """The data given to ``fit``, ``evaluate`` or ``predict`` is invalid; nothing was compiled.

    A tuner stops the whole search on it at once: every trial would fail the same way.
    """
