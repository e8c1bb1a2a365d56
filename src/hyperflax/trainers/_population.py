"""Populations: many same-architecture models trained together, one ``vmap``-ed program per epoch.

Each member is an ordinary :class:`~hyperflax.trainers.Trainer` (its model, optimizer, seed and
epoch counter). Their states are stacked along a leading axis of a fixed ``size``, so one
compiled epoch program trains them all; members differ in everything that is data (initial
weights, masks of the active widths and depths, dropout rates, the numeric optimizer
hyperparameters injected with ``optax.inject_hyperparams``, seeds, epochs). A member that ends
(its epochs are done, a callback stops it or raises, its loss is not finite) leaves its slot,
which the next member takes at once; the others never notice.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hyperflax.trainers._callbacks import Callback, History
from hyperflax.trainers._trainer import Trainer, check_finite_loss


@dataclasses.dataclass
class Member:
    """One model of a population: its trainer, its last epoch and its callbacks.

    Attributes:
        trainer: trains epochs ``trainer.epoch .. epochs - 1`` (a loaded checkpoint continues).
        epochs: the epoch count to reach, as ``Trainer.fit``'s ``epochs``.
        callbacks: called with this member's epochs and its trainer, as by ``Trainer.fit``;
            ``trainer.stop_training = True`` or an exception ends this member only. A callback
            may read the member's model; changes it makes to the weights are not trained on.
        tag: anything the caller wants back with the result.
        rows: the rows of ``x`` this member trains on (a fold of k-fold bagging), as if
            ``fit`` were given ``x[rows], y[rows]``; ``None`` for every row. Members of one
            population give the same number of rows, or all ``None``.
        validation_rows: rows of ``x`` this member validates on (its ``val_*`` logs), instead
            of ``validation_data``.
    """

    trainer: Trainer
    epochs: int
    callbacks: Sequence[Callback] = ()
    tag: Any = None
    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None


@dataclasses.dataclass
class MemberResult:
    """How a member ended: its logs and the exception that ended it, if any."""

    member: Member
    history: History
    error: Exception | None = None


def program_key(trainer: Trainer) -> tuple[Hashable, ...]:
    """What members of one population must share: architecture, optimizer, loss, metrics, devices.

    Example:
        >>> import optax
        >>> from flax import nnx
        >>> from hyperflax.models import MLP
        >>> def make(width, lr):
        ...     model = MLP(4, 2, [width], max_width=16, rngs=nnx.Rngs(0))
        ...     optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        ...     return Trainer(model, optimizer, "cross_entropy")
        >>> program_key(make(8, 1e-3)) == program_key(make(16, 1e-2))
        True
    """
    trainer.model.train()
    graphdef = nnx.split(trainer.model, nnx.Param, ...)[0]
    metrics = tuple(trainer._metric_fns.items())
    return (
        graphdef, trainer._optimizer_key, trainer._loss_fn, metrics, trainer.precision,
        tuple(trainer.devices), trainer.strategy,
    )  # fmt: skip


@dataclasses.dataclass
class _Slot:
    member: Member
    history: History = dataclasses.field(default_factory=History)

    @property
    def trainer(self) -> Trainer:
        return self.member.trainer


def _member_state(trainer: Trainer) -> tuple[Any, Any, Any]:
    _, params, rest = trainer._split(train=True)
    return params, rest, trainer._opt_state_or_init()


@functools.partial(jax.jit, static_argnames="size")
def _repeat(state: Any, *, size: int) -> Any:
    """``size`` copies of one member's state along a new leading axis."""
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (size, *a.shape)), state)


@functools.partial(jax.jit, donate_argnums=0)
def _put(state: Any, k: jax.Array, member: Any) -> Any:
    """``state`` with slot ``k`` replaced by one member's state (one program for every slot)."""
    return jax.tree.map(lambda a, v: a.at[k].set(v), state, member)


def _slice(tree: Any, k: Any) -> Any:
    """Slot ``k`` of every leaf (host arrays here; jitted below for device state)."""
    return jax.tree.map(lambda a: a[k], tree)


_member_at = jax.jit(_slice)  # slot ``k``'s device state: one program for every slot


class _FoldRows:
    """The members' own rows of a shared ``x`` (folds), checked and stacked per epoch."""

    def __init__(self, first: Member, n: int, given_validation: bool) -> None:
        self.n_rows = n if first.rows is None else len(first.rows)
        self.by_rows = first.rows is not None
        self.validates = first.validation_rows is not None
        if self.validates and given_validation:
            raise ValueError("members with validation_rows take no validation_data or split")
        self._filler = np.asarray(first.rows if first.rows is not None else [], np.int32)

    def check(self, member: Member) -> None:
        """Refuses a member whose rows do not match the first member's kind and count."""
        rows, validation = member.rows, member.validation_rows
        if (rows is not None) != self.by_rows or (validation is not None) != self.validates:
            raise ValueError(
                "every member of a population must give rows (and validation_rows) if the "
                "first one does, and none otherwise"
            )
        if rows is not None and len(rows) != self.n_rows:
            raise ValueError(
                f"every member of a population must train on {self.n_rows} rows (the first "
                f"member's count), got {len(rows)}; trim the folds to one size"
            )

    def subsets(self, members: list[Member | None]) -> np.ndarray | None:
        """One row of training rows per slot (empty slots repeat the first member's)."""
        if not self.by_rows:
            return None
        return np.stack([
            self._filler if m is None or m.rows is None else np.asarray(m.rows, np.int32)
            for m in members
        ])  # fmt: skip

    def validated(
        self, member: Member, validated: Any, k: int, validation: Any, y: np.ndarray
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        """Slot ``k``'s validation predictions, losses and targets (its own rows, if any)."""
        predictions, losses = validated[0][k], None if validated[1] is None else validated[1][k]
        if not self.validates:
            return predictions, losses, validation[1]
        rows = np.asarray(member.validation_rows)
        return predictions[rows], None if losses is None else losses[rows], y[rows]


def train_population(
    members: Sequence[Member] | Callable[[], Member | None],
    x: Any,
    y: Any,
    *,
    batch_size: int,
    size: int | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float | None = None,
    shuffle: bool = True,
) -> Iterator[MemberResult]:
    """Train members together, ``size`` at a time; yield each member's result when it ends.

    Every epoch of every active member runs in one compiled program over ``size`` slots (the
    population is padded to ``size``, so populations of any count up to ``size`` share the
    program). Each member gets the logs, callbacks, stopping and final state it would get
    from ``member.trainer.fit(x, y, epochs=member.epochs, ...)`` alone, up to float rounding.
    A freed slot is refilled from ``members`` at once.

    Args:
        members: the members, or a function returning the next member (``None``: none now;
            it is asked again when a slot frees, and training ends when no member is active
            and it has none).
        x: training inputs, shared by every member (each trains on its ``rows``, if given).
        y: training targets.
        batch_size: the global batch size of every member.
        size: the population's slot count; defaults to ``len(members)``.
        validation_data: ``(x_val, y_val)`` for ``val_*`` logs.
        validation_split: fraction of the last rows of ``(x, y)`` to validate on instead.
        shuffle: shuffle each epoch (each member by its own seed and epoch).

    Yields:
        A :class:`MemberResult` per member, in the order members end.

    Raises:
        ValueError: when a member cannot share the first member's program (a different
            architecture or optimizer structure), or ``size`` is missing or too small.

    Example:
        >>> import numpy as np, optax
        >>> from flax import nnx
        >>> from hyperflax.models import MLP
        >>> def member(lr):
        ...     model = MLP(4, 2, [8], rngs=nnx.Rngs(0))
        ...     tx = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        ...     return Member(Trainer(model, tx, "cross_entropy"), epochs=2)
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 2
        >>> results = list(train_population([member(1e-3), member(1e-2)], x, y, batch_size=8))
        >>> [len(r.history.epochs) for r in results]
        [2, 2]
    """
    if not callable(members):
        queue = list(members)
        size = len(queue) if size is None else size
        members = lambda: queue.pop(0) if queue else None  # noqa: E731
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"`size` must be an int >= 1 (the population's slots), got {size!r}")
    first = members()
    if first is None:
        return
    lead = first.trainer
    if lead.strategy != "shard_map":
        raise ValueError(
            f"populations train with strategy='shard_map', got strategy={lead.strategy!r}"
        )
    x, y, validation = lead.prepare_data(
        x, y, validation_data=validation_data, validation_split=validation_split,
        batch_size=batch_size,
    )  # fmt: skip
    folds = _FoldRows(first, len(y), validation is not None)
    key = program_key(lead)
    graphdef, eval_graphdef = key[0], lead._split(train=False)[0]
    config = lead.train_config(graphdef, folds.n_rows, batch_size, shuffle, members=size)
    strategy = lead._strategy
    data = strategy.place_data((x, y))
    placed_validation = validation and strategy.place_data(validation)
    slots: list[_Slot | None] = [None] * size
    ended: list[MemberResult] = []

    def admit(member: Member) -> Any:
        """Start ``member``; its state, or ``None`` when it ended at once (result in ``ended``)."""
        folds.check(member)
        if program_key(member.trainer) != key:
            raise ValueError(
                "every member of a population must share the first member's architecture "
                "(graph definition), optimizer structure, loss, metrics, precision and devices; "
                "group members by hyperflax.trainers.program_key and train each group apart"
            )
        slot = _Slot(member)
        trainer = member.trainer
        trainer.stop_training = False
        try:
            if not 0 <= trainer.epoch < member.epochs:
                raise ValueError(
                    f"a member's trainer.epoch={trainer.epoch} must be in "
                    f"[0, epochs={member.epochs})"
                )
            for callback in member.callbacks:
                callback.on_train_begin(trainer)
            state = _member_state(trainer)
        except Exception as error:
            ended.append(MemberResult(member, slot.history, error))
            return None
        slots[slots.index(None)] = slot
        return state

    state = None
    pending: Member | None = first
    while True:
        yield from ended  # members that ended last round, before asking for new ones
        ended.clear()
        for k in range(size):  # fill the free slots
            if slots[k] is not None:
                continue
            member = pending if pending is not None else members()
            pending = None
            while member is not None:
                start = admit(member)
                if start is not None:
                    break
                member = members()
            if member is None:
                break
            # every slot holds a state from the start, so empty slots compute harmlessly
            state = _repeat(start, size=size) if state is None else _put(state, np.int32(k), start)
        yield from ended
        ended.clear()
        active = [k for k, slot in enumerate(slots) if slot is not None]
        if not active:
            return
        seeds = np.asarray([s.trainer.seed if s else 0 for s in slots], np.int32)
        epochs = np.asarray([s.trainer.epoch if s else 0 for s in slots], np.int32)
        assert state is not None
        subsets = folds.subsets([None if s is None else s.member for s in slots])
        *state, losses, predictions, rows = strategy.start_epoch(
            config, state, data, seeds, epochs, subsets
        ).outputs()
        params, rest, _ = state
        validated = None
        if placed_validation or folds.validates:
            x_val, y_val = placed_validation or data
            validated = lead.run_evaluate(
                eval_graphdef, (params, rest), x_val, y_val, batch_size, members=size
            )
        host: Any = None
        for k in active:
            slot = slots[k]
            assert slot is not None
            trainer, member = slot.trainer, slot.member
            epoch = trainer.epoch
            error = None
            try:
                check_finite_loss(losses[k], epoch)
                logs = lead.epoch_logs(
                    losses[k],
                    None if predictions is None else predictions[k],
                    None if rows is None else y[rows[k]],
                    None
                    if validated is None
                    else folds.validated(member, validated, k, validation, y),
                )
                slot.history.append(epoch, logs)
                trainer.epoch = epoch + 1
                if member.callbacks:
                    host = jax.device_get((params, rest)) if host is None else host
                    nnx.update(trainer.model, *_slice(host, k))
                    for callback in member.callbacks:
                        callback.on_epoch_end(epoch, logs, trainer)
                done = trainer.stop_training or trainer.epoch >= member.epochs
            except Exception as exc:
                error, done = exc, True
            if not done:
                continue
            slots[k] = None
            member_params, member_rest, opt_state = _member_at(state, np.int32(k))
            nnx.update(trainer.model, member_params, member_rest)
            trainer.opt_state = opt_state
            try:
                if error is None:
                    for callback in member.callbacks:
                        callback.on_train_end(trainer)
            except Exception as exc:
                error = exc
            ended.append(MemberResult(member, slot.history, error))
        state = tuple(state)
