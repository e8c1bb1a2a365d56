"""What a trial and a search become in MLflow: params, metrics and tags as plain data."""

from __future__ import annotations

import contextlib
import datetime
import json
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from hyperflax import _study_keys as keys
from hyperflax._version import __version__

if TYPE_CHECKING:
    import optuna

#: Longest param or tag value written (MLflow refuses params over 6000 characters).
MAX_VALUE_CHARS = 5000
#: User attributes that become dedicated tags or metrics, or are bookkeeping only.
_SPECIAL_ATTRS = frozenset(
    {keys.ERROR, keys.METRICS, keys.DEVICES, keys.HEARTBEAT, keys.OWNER, keys.HISTORY}
)
_STATE_NAMES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}

#: A metric: (key, value, step).
MetricRecord = tuple[str, float, int]


def as_text(value: Any) -> str:
    """A param or tag value: strings as they are, anything else as JSON, cut to a safe length.

    Example:
        >>> as_text(0.5), as_text("adam"), as_text([1, 2])
        ('0.5', 'adam', '[1, 2]')
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_VALUE_CHARS]


def millis(moment: datetime.datetime | None) -> int:
    """Milliseconds since the epoch of ``moment`` (now when None), as MLflow stores times.

    Example:
        >>> millis(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        1704067200000
    """
    return int((moment or datetime.datetime.now()).timestamp() * 1000)


def version_tags() -> dict[str, str]:
    """The ``hyperflax.version`` and ``jax.version`` tags (JAX's without importing it).

    Example:
        >>> "hyperflax.version" in version_tags()
        True
    """
    tags = {"hyperflax.version": __version__}
    with contextlib.suppress(PackageNotFoundError):
        tags["jax.version"] = version("jax")
    return tags


def trial_status(trial: optuna.trial.FrozenTrial) -> str:
    """The MLflow run status of a finished trial: FAILED for a failed one, else FINISHED."""
    return "FAILED" if trial.state.name == "FAIL" else "FINISHED"


def trial_tags(trial: optuna.trial.FrozenTrial) -> dict[str, str]:
    """The tags of a trial's run: number, state, error, devices, versions, other ``hx:`` attrs.

    A user attribute ``hx:plan`` becomes the tag ``hyperflax.plan``; the user's own
    attributes keep their name under ``hyperflax.user.``.
    """
    attrs = trial.user_attrs
    tags = {
        "hyperflax.trial_number": str(trial.number),
        "hyperflax.state": _STATE_NAMES.get(trial.state.name, trial.state.name.lower()),
        **version_tags(),
    }
    if keys.ERROR in attrs:
        tags["hyperflax.error"] = as_text(attrs[keys.ERROR])
    if keys.DEVICES in attrs:
        tags["hyperflax.devices"] = as_text(attrs[keys.DEVICES])
    for key, value in attrs.items():
        if key not in _SPECIAL_ATTRS:
            name = key.removeprefix("hx:") if key.startswith("hx:") else f"user.{key}"
            tags[f"hyperflax.{name}"] = as_text(value)
    return tags


def trial_metrics(
    trial: optuna.trial.FrozenTrial,
    history: dict[str, list[float]] | None,
    objective: str,
) -> list[MetricRecord]:
    """The metrics of a trial's run.

    - per-epoch ``history`` under its own names, at step ``history["epoch"][i]`` (else ``i``);
      without a history, the trial's intermediate values as metric ``objective`` at their step;
    - a model's last epoch as ``final/<name>`` and its best epoch (user attribute ``hx:metrics``)
      as ``best/<name>``; a plain function's returned metrics as ``final/<name>``; at step 0;
    - the objective value, when the trial has one, as ``objective/<objective>`` at step 0.

    Example:
        >>> import optuna
        >>> trial = optuna.trial.create_trial(value=0.9, intermediate_values={0: 0.5, 1: 0.9})
        >>> trial_metrics(trial, None, "acc")
        [('acc', 0.5, 0), ('acc', 0.9, 1), ('objective/acc', 0.9, 0)]
    """
    records: list[MetricRecord] = []
    if history is None:
        records += [(objective, float(v), int(s)) for s, v in trial.intermediate_values.items()]
    else:
        length = max((len(values) for values in history.values()), default=0)
        steps = history.get("epoch", range(length))
        for name, values in history.items():
            if name != "epoch":
                records += [(name, float(v), int(s)) for s, v in zip(steps, values, strict=False)]
    result = trial.user_attrs.get(keys.METRICS) or {}
    if history is None:
        final = result
    else:
        final = {name: values[-1] for name, values in history.items() if name != "epoch" and values}
        records += [(f"best/{name}", float(value), 0) for name, value in result.items()]
    records += [(f"final/{name}", float(value), 0) for name, value in final.items()]
    if trial.value is not None:
        records.append((f"objective/{objective}", float(trial.value), 0))
    return records


def as_params(values: dict[str, Any]) -> dict[str, str]:
    """Hyperparameters or settings as run params (values as text, see :func:`as_text`).

    Example:
        >>> as_params({"tuner": "RandomSearch", "max_trials": 10})
        {'tuner': 'RandomSearch', 'max_trials': '10'}
    """
    return {key: as_text(value) for key, value in values.items()}
