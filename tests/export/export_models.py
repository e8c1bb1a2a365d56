"""Small NNX models, inputs and artifact-damaging helpers for the export tests."""

import hashlib
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

N_FEATURES = 5
IMAGE_SHAPE = (8, 8, 1)
CLASSES = ["cat", "dog", "emu"]


class MLP(nnx.Module):
    def __init__(self, n_in: int, n_out: int, *, rngs: nnx.Rngs, param_dtype=jnp.float32) -> None:
        self.hidden = nnx.Linear(n_in, 16, rngs=rngs, param_dtype=param_dtype)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)
        self.out = nnx.Linear(16, n_out, rngs=rngs, param_dtype=param_dtype)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return self.out(self.dropout(nnx.relu(self.hidden(x))))


class ConvNet(nnx.Module):
    def __init__(self, n_out: int, *, rngs: nnx.Rngs) -> None:
        self.conv = nnx.Conv(IMAGE_SHAPE[-1], 4, kernel_size=(3, 3), rngs=rngs)
        self.norm = nnx.BatchNorm(4, rngs=rngs)
        self.out = nnx.Linear(4 * IMAGE_SHAPE[0] * IMAGE_SHAPE[1], n_out, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        h = nnx.relu(self.norm(self.conv(x)))
        return self.out(h.reshape(h.shape[0], -1))


def eval_output(model: nnx.Module, x: np.ndarray) -> np.ndarray:
    """The model's own output in eval mode, computed on a copy (the model stays as it is)."""
    copy = nnx.clone(model)
    copy.eval()
    return np.asarray(copy(x))


def tabular(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(np.float32)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, *IMAGE_SHAPE)).astype(np.float32)


def edit_manifest(artifact: Path, **changes) -> None:
    manifest = json.loads((artifact / "hyperflax.json").read_text())
    (artifact / "hyperflax.json").write_text(json.dumps(manifest | changes))


def rehash(artifact: Path, name: str) -> None:
    """Record a damaged file's new sha256, as if it had been written that way."""
    files = json.loads((artifact / "hyperflax.json").read_text())["files"]
    edit_manifest(
        artifact, files=files | {name: hashlib.sha256((artifact / name).read_bytes()).hexdigest()}
    )


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
