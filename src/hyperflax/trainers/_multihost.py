"""Placing data on, and reading outputs from, a mesh that spans processes (``jax.distributed``).

After ``jax.distributed.initialize`` every process runs the same script on the same host data.
Each process then puts a full copy of that data on each of its own devices, so the replicated
global array is assembled without any transfer between processes, and the per-device programs
are exactly those of one process. A cheap fingerprint exchange refuses data (or model state)
that differs between processes. Outputs split over other processes' devices are gathered.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding

from hyperflax._npz import is_prng_key


def spans_processes(devices: Sequence[jax.Device]) -> bool:
    """Whether ``devices`` include devices of processes other than this one.

    Example:
        >>> import jax
        >>> spans_processes(jax.local_devices())
        False
    """
    return any(device.process_index != jax.process_index() for device in devices)


def to_host(tree: Any) -> Any:
    """NumPy copies of ``tree``'s leaves; arrays split over several processes are gathered first.

    Example:
        >>> import jax.numpy as jnp
        >>> to_host({"a": jnp.ones(2)})["a"].tolist()
        [1.0, 1.0]
    """

    def host(leaf: Any) -> np.ndarray:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree.map(host, tree)


def _fingerprint(leaf: Any) -> int:
    """A CRC-32 of a leaf's shape, dtype and contents (PRNG keys: of their key data)."""
    if is_prng_key(leaf):
        leaf = jax.random.key_data(leaf)
    values = np.ascontiguousarray(leaf)
    header = zlib.crc32(repr((values.shape, values.dtype.str)).encode())
    return zlib.crc32(values.data, header)


def check_same_on_every_process(tree: Any, what: str) -> None:
    """Raise ``ValueError`` unless every process passes the same ``tree`` (one small all-gather).

    Must be called by every process, as every collective.
    """
    local = np.asarray([_fingerprint(leaf) for leaf in jax.tree.leaves(tree)], np.uint32)
    every = np.asarray(multihost_utils.process_allgather(local))
    differing = [p for p, row in enumerate(every) if not np.array_equal(row, local)]
    if differing:
        raise ValueError(
            f"the {what} of process {jax.process_index()} differs from that of processes "
            f"{differing}; with jax.distributed every process must pass the same full data and "
            "build the model with the same seed"
        )


def _replicate_leaf(sharding: NamedSharding, leaf: Any) -> jax.Array:
    if getattr(leaf, "sharding", None) == sharding:
        return leaf
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        leaf = leaf.addressable_data(0)  # a replicated global array's local copy
    copies = [jax.device_put(leaf, device) for device in sharding.mesh.local_devices]
    return jax.make_array_from_single_device_arrays(np.shape(leaf), sharding, copies)


def replicate(tree: Any, sharding: NamedSharding, what: str) -> Any:
    """Replicates host-identical ``tree`` on every device of ``sharding``'s cross-process mesh.

    Every process must call it with the same ``tree`` (checked; ``what`` names it in the
    error); each process copies it onto its own devices only.
    """
    check_same_on_every_process(tree, what)
    return jax.tree.map(functools.partial(_replicate_leaf, sharding), tree)
