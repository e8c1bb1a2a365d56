"""``model.onnx`` beside the JAX program: converted by jax2onnx, checked by ONNX Runtime."""

import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from hyperflax.export._preprocessing import Preprocessing

ONNX_FILE = "model.onnx"
ORT_FILE = "model.ort"
#: ONNX Runtime must reproduce the JAX function on the example input to this tolerance.
RTOL, ATOL = 1e-4, 1e-5


def _modules() -> tuple[Any, Any]:
    try:
        import jax2onnx
        import onnx
        import onnxruntime  # noqa: F401  (the check below needs it)
    except ImportError as e:
        raise ImportError(
            f"formats=('jax', 'onnx') needs jax2onnx and onnxruntime ({e.name} is missing): "
            f"pip install 'hyperflax[onnx]'"
        ) from e
    return jax2onnx, onnx


def write_onnx(
    model: Any, scaler: Preprocessing | None, example: np.ndarray, path: Path
) -> dict[str, Any]:
    """Write ``scaler`` then ``model`` (eval mode) as one ONNX graph with a symbolic batch.

    The graph takes the raw input (the dtype of the JAX program) and returns what the JAX
    program returns (logits or values). ONNX Runtime runs it on ``example`` before it is kept.

    Args:
        model: The Flax NNX module being exported.
        scaler: The preprocessing applied before the model, or ``None``.
        example: The example input (raw, before ``scaler``).
        path: The ``.onnx`` file to write.

    Returns:
        What the manifest records: file, input and output names, opset, converter version.

    Raises:
        ImportError: without the ``onnx`` extra.
        ValueError: when the converted graph disagrees with the JAX function on ``example``.
    """
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax2onnx, onnx = _modules()
    module = nnx.merge(*nnx.split(model))  # a copy: eval mode does not touch the caller's
    module.eval()
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(example.dtype))

    def forward(x: jax.Array) -> jax.Array:
        return module(x if scaler is None else scaler.apply(x, jnp))

    with warnings.catch_warnings():  # the converter's own deprecations are not the user's
        warnings.simplefilter("ignore", DeprecationWarning)
        proto = jax2onnx.to_onnx(forward, [("batch", *example.shape[1:])], return_mode="proto")
    onnx.save(proto, path)
    x = example.astype(dtype)
    given, produced = check_runtime(path, x, np.asarray(forward(jnp.asarray(x))))
    return {
        "file": ONNX_FILE, "input": given.name, "output": produced.name,
        "opset": int(proto.opset_import[0].version),
        "converter": {"jax2onnx": version("jax2onnx"), "onnx": onnx.__version__},
    }  # fmt: skip


def check_runtime(path: Path, x: np.ndarray, want: np.ndarray) -> tuple[Any, Any]:
    """Run ``path`` (``.onnx`` or ``.ort``) with ONNX Runtime on ``x``; it must give ``want``.

    Returns:
        The graph's input and output descriptions.

    Raises:
        ValueError: when the graph disagrees with ``want``.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (given,), (produced,) = session.get_inputs(), session.get_outputs()
    got = session.run(None, {given.name: x})[0]
    if got.shape != want.shape or not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        gap = np.abs(got - want).max() if got.shape == want.shape else f"shape {got.shape}"
        raise ValueError(
            f"{path.name} disagrees with the JAX model on example_input (max difference "
            f"{gap}, tolerance rtol={RTOL}, atol={ATOL}); export with formats=('jax',)"
        )
    return given, produced


def write_ort(onnx_path: Path, path: Path, x: np.ndarray) -> dict[str, Any]:
    """Convert ``onnx_path`` to ONNX Runtime Mobile's ``.ort`` format at ``path``.

    The ``.ort`` graph must give what the ``.onnx`` graph gives on ``x`` (in the graph's
    input dtype).

    Returns:
        What the manifest records.
    """
    import tempfile

    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    want = onnxruntime_outputs(onnx_path, x)
    with tempfile.TemporaryDirectory(prefix="hx_ort_") as scratch:
        convert_onnx_models_to_ort(
            onnx_path, output_dir=Path(scratch), optimization_styles=[OptimizationStyle.Fixed]
        )
        (Path(scratch) / onnx_path.with_suffix(".ort").name).replace(path)
    check_runtime(path, x, want)
    return {"file": path.name, "optimization": "Fixed"}


def onnxruntime_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """What ONNX Runtime computes for ``x`` with the graph at ``path``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
