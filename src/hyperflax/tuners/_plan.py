"""What a tuner decides about each trial, stored with the trial so any worker can run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from hyperflax import _study_keys as keys


@dataclass(frozen=True)
class TrialPlan:
    """The next trial as a tuner wants it; ``TrialPlan()`` leaves every choice to the sampler.

    A tuner's :meth:`~hyperflax.tuners.Tuner.next_trial` returns one. The plan is stored with
    the trial (user attribute ``hx:plan``), so a worker that picks the trial up, or a retry
    after a crash, runs it the same way.

    Args:
        params: hyperparameter values fixed for this trial; the sampler picks the others.
        epochs: the epoch (for a plain function: ``hp.report`` step) budget, counted from the
            start of training, so a continued trial's budget includes its parent's epochs.
            ``None``: the ``epochs`` given to ``search``.
        continues: the number of a finished trial whose full training state this trial
            continues instead of training from scratch (that trial must have had
            ``keep_state=True``).
        keep_state: keep the trial's full training state after it ends, so that a later trial
            can continue it; otherwise only its best-epoch weights are kept.
        tags: the tuner's own JSON-able bookkeeping, e.g. which bracket the trial belongs to.

    Example:
        >>> from hyperflax.tuners import TrialPlan
        >>> TrialPlan(params={"units": 64}, epochs=3, keep_state=True).to_attr()
        {'epochs': 3, 'keep_state': True}
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    continues: int | None = None
    keep_state: bool = False
    tags: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("continues", 0)):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < low
            ):
                raise ValueError(f"TrialPlan {name} must be an int >= {low} or None, got {value!r}")
        if not isinstance(self.keep_state, bool):
            raise ValueError(f"TrialPlan keep_state must be a bool, got {self.keep_state!r}")
        if not isinstance(self.params, Mapping) or not isinstance(self.tags, Mapping):
            raise ValueError("TrialPlan params and tags must be dicts")

    def to_attr(self) -> dict[str, Any]:
        """The plan as stored with its trial, without params (Optuna stores those itself)."""
        attr: dict[str, Any] = {}
        if self.epochs is not None:
            attr["epochs"] = self.epochs
        if self.continues is not None:
            attr["continues"] = self.continues
        if self.keep_state:
            attr["keep_state"] = True
        if self.tags:
            attr["tags"] = dict(self.tags)
        return attr

    @property
    def is_default(self) -> bool:
        """Whether the plan fixes nothing (the sampler decides everything)."""
        return not self.params and not self.to_attr()

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialPlan:
        """The plan a trial was run (or queued) with.

        Example:
            >>> import optuna
            >>> from hyperflax.tuners import TrialPlan
            >>> TrialPlan.of(optuna.trial.create_trial(value=1.0)).epochs is None
            True
        """
        return cls.from_attrs(trial.user_attrs, trial.system_attrs.get("fixed_params", {}))

    @classmethod
    def from_attrs(
        cls, user_attrs: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> TrialPlan:
        """The plan stored in a trial's user attributes (``hx:plan``)."""
        attr = user_attrs.get(keys.PLAN) or {}
        return cls(
            params=dict(params or {}),
            epochs=attr.get("epochs"),
            continues=attr.get("continues"),
            keep_state=bool(attr.get("keep_state", False)),
            tags=dict(attr.get("tags", {})),
        )
