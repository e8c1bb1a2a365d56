"""Argument checks shared by the tuners, with messages that name the argument and the rule."""

from __future__ import annotations

from typing import Any


def check_int(name: str, value: Any, *, low: int, optional: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int ``>= low`` (or ``None`` when optional).

    Example:
        >>> check_int("max_trials", 0, low=1)
        Traceback (most recent call last):
        ...
        ValueError: max_trials must be an int >= 1, got 0
    """
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"{name} must be an int >= {low}{' or None' if optional else ''}, got {value!r}"
        )
