"""Multi-device data parallelism: one per-device program, mapped by ``shard_map`` or ``pmap``.

Both strategies replicate the data on every device once per ``fit`` and hand each device its
slice of every global batch; gradients are averaged with ``lax.pmean``. Outputs come back in a
global ``(steps, n_devices * device_batch, ...)`` layout, as host arrays where the caller needs
them on host. ``start_epoch`` returns before its epoch has run where that is safe, so the caller
can queue the next epoch behind it; multi-device CPU programs wait for their results instead:
on a few CPU cores, back-to-back multi-device programs can abort in an all-reduce rendezvous.
``shard_map`` also runs populations (``config.members``): the per-device program is
``vmap``-ed over the members' state.

After ``jax.distributed.initialize``, ``shard_map``'s mesh may span every process's devices:
each process passes the same data and places its copy on its own devices (``_multihost``);
``pmap`` refuses devices of other processes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from hyperflax.trainers._multihost import replicate, spans_processes, to_host
from hyperflax.trainers._programs import (
    AXIS,
    ProgramConfig,
    device_evaluate,
    device_train_epoch,
)

# Without varying-manual-axes checking, gradients of replicated parameters stay per-device (as
# under pmap) and ``train_step``'s explicit ``pmean`` averages them; with checking on, JAX would
# already sum them across devices when transposing, and the pmean would not divide that sum.
_CHECK_VMA = False

TrainOutputs = tuple[Any, Any, Any, np.ndarray, np.ndarray | None, np.ndarray | None]
"""``(params, rest, opt_state, step_losses, predictions, rows)`` with host arrays last."""


class PendingEpoch:
    """A dispatched training epoch: its new state now (device arrays), its host outputs later.

    The state may be passed to the next epoch before this one has run; ``outputs`` waits for it.

    Example:
        >>> PendingEpoch(("p", "r", "o"), lambda: (np.zeros(2), None, None)).state
        ('p', 'r', 'o')
    """

    def __init__(
        self,
        state: tuple[Any, Any, Any],
        host: Callable[[], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]],
    ) -> None:
        self.state = state
        self._host = host

    def outputs(self) -> TrainOutputs:
        """Waits for the epoch; ``(params, rest, opt_state, step_losses, predictions, rows)``."""
        return (*self.state, *self._host())


class Strategy(Protocol):
    """How per-device programs are mapped over devices."""

    def place_data(self, tree: Any) -> Any:
        """Puts a dataset on the devices, once per ``fit``, in the layout the programs expect."""
        ...

    def start_epoch(
        self,
        config: ProgramConfig,
        state: tuple[Any, Any, Any],
        data: tuple[Any, Any],
        seed: int | np.ndarray,
        epoch: int | np.ndarray,
        subsets: np.ndarray | None = None,
        placed: bool = False,
    ) -> PendingEpoch:
        """Dispatches one training epoch; ``state`` is ``(params, rest, opt_state)``.

        ``subsets`` (a population's, one row per member) limits each member to its rows;
        ``placed`` says ``state`` is a previous epoch's, already where the program wants it.
        """
        ...

    def evaluate(
        self, config: ProgramConfig, state: tuple[Any, Any], x: Any, y: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Returns per-row predictions and losses (``None`` without ``y``) on host."""
        ...


def _flatten_rows(tree: Any, members: int = 0) -> Any:
    """``([K,] steps, rows, ...)`` -> ``([K,] steps * rows, ...)``."""
    lead = 1 if members else 0
    return jax.tree.map(lambda a: a.reshape(*a.shape[:lead], -1, *a.shape[lead + 2 :]), tree)


def _row_spec(config: ProgramConfig) -> P:
    """Per-row outputs are split over devices along the rows axis (after ``[K,] steps``)."""
    return P(*[None] * (2 if config.members else 1), AXIS)


@functools.partial(jax.jit, static_argnames=("config", "mesh"))
def _shard_map_train(
    state: tuple[Any, Any, Any],
    data: tuple[Any, Any],
    seed: Any,
    epoch: Any,
    subsets: Any,
    *,
    config: ProgramConfig,
    mesh: Mesh,
) -> Any:
    def run(
        state: tuple[Any, Any, Any], data: tuple[Any, Any], seed: Any, epoch: Any, subsets: Any
    ) -> Any:
        def member(params: Any, rest: Any, opt_state: Any, seed: Any, epoch: Any, rows: Any) -> Any:
            return device_train_epoch(config, params, rest, opt_state, *data, seed, epoch, rows)

        return (jax.vmap(member) if config.members else member)(*state, seed, epoch, subsets)

    rows = _row_spec(config)
    mapped = jax.shard_map(
        run,
        mesh=mesh,
        in_specs=(P(), P(), P(), P(), P()),
        out_specs=(P(), P(), P(), P(), rows, rows),
        check_vma=_CHECK_VMA,
    )
    return mapped(state, data, seed, epoch, subsets)


@functools.partial(jax.jit, static_argnames=("config", "mesh"))
def _shard_map_evaluate(
    state: tuple[Any, Any], x: Any, y: Any, *, config: ProgramConfig, mesh: Mesh
) -> Any:
    def run(state: tuple[Any, Any], x: Any, y: Any) -> Any:
        def member(params: Any, rest: Any) -> Any:
            return device_evaluate(config, params, rest, x, y)

        return (jax.vmap(member) if config.members else member)(*state)

    rows = _row_spec(config)
    mapped = jax.shard_map(
        run, mesh=mesh, in_specs=(P(), P(), P()), out_specs=(rows, rows), check_vma=_CHECK_VMA
    )
    return mapped(state, x, y)


def _abstract(tree: Any, sharding: NamedSharding) -> Any:
    """Shapes and dtypes of ``tree`` as placed with ``sharding`` (what a program is compiled for).

    Host arrays get the dtype ``jax.device_put`` gives them (float64 becomes float32 unless
    64-bit mode is on); Python scalars stay as they are, weakly typed, as in a call.
    """

    def spec(leaf: Any) -> Any:
        if isinstance(leaf, int | float):
            return leaf
        dtype = jax.dtypes.canonicalize_dtype(leaf.dtype, allow_extended_dtype=True)
        return jax.ShapeDtypeStruct(np.shape(leaf), dtype, sharding=sharding)

    return jax.tree.map(spec, tree)


def is_training_program(name: str) -> bool:
    """Whether a compiled program's name (``CompilationCounter.names``) is a training epoch.

    Example:
        >>> is_training_program("jit(_shard_map_train)"), is_training_program("jit(add)")
        (True, False)
    """
    return "_shard_map_train" in name or device_train_epoch.__name__ in name


class ShardMapStrategy:
    """Maps the per-device programs with ``jax.shard_map`` over a 1-D ``"data"`` mesh.

    Example:
        >>> import jax
        >>> ShardMapStrategy(jax.devices()).n_devices >= 1
        True
    """

    def __init__(self, devices: Sequence[jax.Device]) -> None:
        self.n_devices = len(devices)
        self.mesh = Mesh(np.asarray(devices), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
        self._replicated = NamedSharding(self.mesh, P())
        self._spans_processes = spans_processes(devices)
        self._waits = self.n_devices > 1 and devices[0].platform == "cpu"

    def place_data(self, tree: Any, what: str = "data") -> Any:
        """Replicates ``tree`` on every device of the mesh (``what`` names it in errors)."""
        if self._spans_processes:
            return replicate(tree, self._replicated, what)
        return jax.device_put(tree, self._replicated)

    def _place_state(self, tree: Any) -> Any:
        """Replicates model state unless a previous program left it replicated already.

        Fresh state and a previous epoch's outputs must carry the same sharding, or the program
        compiles a second time for the second epoch; placing state that is already in place
        would cost about a millisecond per epoch, some 10% of a small model's epoch.
        """
        leaves = jax.tree.leaves(tree)
        if all(getattr(leaf, "sharding", None) == self._replicated for leaf in leaves):
            return tree
        return self.place_data(tree, "model state")

    def start_epoch(
        self,
        config: ProgramConfig,
        state: tuple[Any, Any, Any],
        data: tuple[Any, Any],
        seed: int | np.ndarray,
        epoch: int | np.ndarray,
        subsets: np.ndarray | None = None,
        placed: bool = False,
    ) -> PendingEpoch:
        """Dispatches one training epoch on all devices (each member on its ``subsets`` row)."""
        if not placed:
            state = self._place_state(state)
        out = _shard_map_train(state, data, seed, epoch, subsets, config=config, mesh=self.mesh)
        if self._waits:
            out = jax.block_until_ready(out)
        params, rest, opt_state, losses, predictions, rows = out

        def host() -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
            per_row = _flatten_rows(to_host((predictions, rows)), config.members)
            return np.asarray(losses), *per_row

        return PendingEpoch((params, rest, opt_state), host)

    def compile_train(
        self, config: ProgramConfig, state: tuple[Any, Any, Any], data: tuple[Any, Any], seed: int
    ) -> None:
        """Compiles ``start_epoch``'s program for this state and host data, running nothing."""
        args = _abstract((state, data), self._replicated)
        _shard_map_train.lower(*args, seed, 0, None, config=config, mesh=self.mesh).compile()

    def compile_evaluate(
        self, config: ProgramConfig, state: tuple[Any, Any], x: Any, y: Any
    ) -> None:
        """Compiles ``evaluate``'s program for this state and host data, running nothing."""
        args = _abstract((state, x, y), self._replicated)
        _shard_map_evaluate.lower(*args, config=config, mesh=self.mesh).compile()

    def evaluate(
        self, config: ProgramConfig, state: tuple[Any, Any], x: Any, y: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Evaluates on all devices; rows in global order."""
        state = self._place_state(state)
        out = jax.block_until_ready(_shard_map_evaluate(state, x, y, config=config, mesh=self.mesh))
        return _flatten_rows(to_host(out), config.members)


@functools.lru_cache(maxsize=16)
def _pmapped(function: Callable[..., Any], devices: tuple[jax.Device, ...], in_axes: tuple) -> Any:
    return jax.pmap(
        function, axis_name=AXIS, in_axes=in_axes, static_broadcasted_argnums=(0,), devices=devices
    )


def _device_major_to_rows(tree: Any) -> Any:
    """Pmap output ``(n_devices, steps, device_batch, ...)`` -> ``(steps, n_devices * ...)``."""
    return jax.tree.map(lambda a: np.swapaxes(a, 0, 1).reshape(a.shape[1], -1, *a.shape[3:]), tree)


class PmapStrategy:
    """Maps the per-device programs with ``jax.pmap``; data is stacked once per device.

    Example:
        >>> import jax
        >>> PmapStrategy(jax.devices()).n_devices >= 1
        True
    """

    def __init__(self, devices: Sequence[jax.Device]) -> None:
        if spans_processes(devices):
            raise ValueError(
                "strategy='pmap' maps over this process's devices only, but `devices` include "
                "other processes' devices (jax.distributed); use strategy='shard_map', or "
                "devices=jax.local_devices() to train on this process alone"
            )
        self.devices = tuple(devices)
        self.n_devices = len(devices)
        mesh = Mesh(np.asarray(devices), (AXIS,))
        self._stacked = NamedSharding(mesh, P(AXIS))

    def place_data(self, tree: Any) -> Any:
        """Stacks one copy of ``tree`` per device along a new leading axis."""

        def stack(leaf: Any) -> np.ndarray:
            leaf = np.asarray(leaf)
            return np.broadcast_to(leaf, (self.n_devices, *leaf.shape))

        return jax.device_put(jax.tree.map(stack, tree), self._stacked)

    def start_epoch(
        self,
        config: ProgramConfig,
        state: tuple[Any, Any, Any],
        data: tuple[Any, Any],
        seed: int | np.ndarray,
        epoch: int | np.ndarray,
        subsets: np.ndarray | None = None,
        placed: bool = False,
    ) -> PendingEpoch:
        """Runs one training epoch on all devices (populations and ``subsets``: shard_map)."""
        if subsets is not None:
            raise ValueError("training on row subsets needs strategy='shard_map'")
        run = _pmapped(device_train_epoch, self.devices, (None, None, None, None, 0, 0, None, None))
        out = jax.block_until_ready(run(config, *state, *data, seed, epoch))
        losses, predictions, rows = to_host(out[3:])
        per_row = _flatten_rows(_device_major_to_rows((predictions, rows)))
        return PendingEpoch(jax.tree.map(lambda a: a[0], out[:3]), lambda: (losses[0], *per_row))

    def evaluate(
        self, config: ProgramConfig, state: tuple[Any, Any], x: Any, y: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Evaluates on all devices; rows in global order."""
        run = _pmapped(device_evaluate, self.devices, (None, None, None, 0, 0))
        out = to_host(jax.block_until_ready(run(config, *state, x, y)))
        return _flatten_rows(_device_major_to_rows(out))


STRATEGIES: dict[str, type[ShardMapStrategy] | type[PmapStrategy]] = {
    "shard_map": ShardMapStrategy,
    "pmap": PmapStrategy,
}
