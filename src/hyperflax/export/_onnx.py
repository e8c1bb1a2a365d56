"""``model.onnx`` beside the JAX program: converted by jax2onnx, checked by ONNX Runtime."""

import contextlib
import io
import tempfile
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from hyperflax.export._preprocessing import Preprocessing

ONNX_FILE = "model.onnx"
ORT_FILE = "model.ort"
#: ONNX Runtime must reproduce the artifact's outputs to this tolerance (the absolute part
#: scales with the largest output).
RTOL, ATOL = 1e-4, 1e-5


def require_onnx() -> tuple[Any, Any]:
    """The jax2onnx and onnx modules; onnxruntime must import too.

    Raises:
        ImportError: naming the extra to install.
    """
    try:
        import jax2onnx
        import onnx
        import onnxruntime  # noqa: F401  (every ONNX path runs the graph)
    except ImportError as e:
        raise ImportError(
            f"ONNX export and quantization need jax2onnx and onnxruntime ({e.name} is "
            f"missing): pip install 'hyperflax[onnx]'"
        ) from e
    return jax2onnx, onnx


def write_onnx(
    model: Any, scaler: Preprocessing | None, x: np.ndarray, want: np.ndarray, path: Path
) -> dict[str, Any]:
    """Write ``scaler`` then ``model`` (eval mode) as one ONNX graph with a symbolic batch.

    The graph takes the raw input in ``x``'s dtype (scaling in float32 inside) and returns
    what the JAX program returns (logits or values). ONNX Runtime must give ``want`` for ``x``
    before the graph is kept.

    Args:
        model: The Flax NNX module being exported.
        scaler: The preprocessing applied before the model, or ``None``.
        x: The example input (raw, before ``scaler``) in the graph's input dtype.
        want: The exported JAX program's outputs for ``x`` (through the artifact).
        path: The ``.onnx`` file to write.

    Returns:
        What the manifest records: file, input and output names, opset, converter versions.

    Raises:
        ImportError: without the ``onnx`` extra.
        ValueError: when the model does not convert, or the graph disagrees with ``want``.
    """
    import jax.numpy as jnp
    from flax import nnx

    module = nnx.merge(*nnx.split(model))  # a copy: eval mode does not touch the caller's
    module.eval()

    def forward(v: Any) -> Any:
        return module(v if scaler is None else scaler.apply(v, jnp))

    return write_onnx_function(forward, x, want, path)


def write_onnx_function(
    forward: Callable[[Any], Any], x: np.ndarray, want: np.ndarray, path: Path
) -> dict[str, Any]:
    """Write ``forward`` (a pure JAX function of one batch) as an ONNX graph, checked on ``x``.

    Args:
        forward: The function to convert; arrays it closes over become graph constants.
        x: An example batch, in the graph's input dtype.
        want: What the exported JAX program returns for ``x``.
        path: The ``.onnx`` file to write.

    Returns:
        What the manifest records (see :func:`write_onnx`).

    Raises:
        ImportError: without the ``onnx`` extra.
        ValueError: when ``forward`` does not convert, or the graph disagrees with ``want``.
    """
    import jax

    jax2onnx, onnx = require_onnx()
    (batch,) = jax.export.symbolic_shape("batch")
    spec = jax.ShapeDtypeStruct((batch, *x.shape[1:]), x.dtype)
    try:
        with warnings.catch_warnings():  # the converter's own deprecations are not the user's
            warnings.simplefilter("ignore")
            proto = jax2onnx.to_onnx(forward, [spec], return_mode="proto")
        onnx.save(proto, path)
        given, produced = check_runtime(path, x, want)
    except ValueError:
        raise
    except Exception as e:  # the converter's or the runtime's own error types
        raise ValueError(
            f"the model does not convert to ONNX ({type(e).__name__}: {e}); export with "
            f"formats=('jax',)"
        ) from e
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
    atol = ATOL * max(1.0, float(np.abs(want).max(initial=0.0)))
    if got.shape != want.shape or not np.allclose(got, want, rtol=RTOL, atol=atol):
        gap = np.abs(got - want).max() if got.shape == want.shape else f"shape {got.shape}"
        raise ValueError(
            f"{path.name} disagrees with the exported JAX program on example_input (max "
            f"difference {gap}, tolerance rtol={RTOL}, atol={atol:.3g}); export with "
            f"formats=('jax',)"
        )
    return given, produced


def write_ort(onnx_path: Path, path: Path, x: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    """Convert ``onnx_path`` to ONNX Runtime Mobile's ``.ort`` format at ``path``.

    The ``.ort`` graph must give ``want`` for ``x``, as the ``.onnx`` graph does.

    Returns:
        What the manifest records.
    """
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    with tempfile.TemporaryDirectory(prefix="hx_ort_") as scratch:
        with contextlib.redirect_stdout(io.StringIO()):  # the tool's progress lines
            convert_onnx_models_to_ort(
                onnx_path, output_dir=Path(scratch), optimization_styles=[OptimizationStyle.Fixed]
            )
        (Path(scratch) / onnx_path.with_suffix(".ort").name).replace(path)
    check_runtime(path, x, want)
    return {"file": path.name, "optimization": "Fixed"}
