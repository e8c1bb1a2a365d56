"""``quantize``: an int8 copy of an export's ONNX graph, kept only if the task metric holds."""

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hyperflax.export._atomic import RESULT, atomic_directory
from hyperflax.export._manifest import read_manifest, write_manifest
from hyperflax.export._mlflow import finish_mlmodel
from hyperflax.export._onnx import ONNX_FILE, require_onnx
from hyperflax.export._table import encode_table

INT8_FILE = "model.int8.onnx"
_CALIBRATION_BATCH = 64
# Only the layers that hold weights: tree thresholds, lookup tables and the arithmetic of
# preprocessing stay float32 (int8 ranges would move splits and category codes).
_DENSE_OPS = ["MatMul", "Gemm", "Conv", "ConvTranspose"]


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    """What int8 costs and saves against float32, both run by ONNX Runtime on the CPU.

    Attributes:
        metric: ``"accuracy"`` (classifiers) or ``"rmse"`` (regression).
        float32: The metric of the float32 graph on the validation data.
        int8: The metric of the int8 graph on the same data.
        size_float32: Bytes of ``model.onnx``.
        size_int8: Bytes of ``model.int8.onnx``.
        latency_float32: Seconds for one row and for 1,000 rows (median of repeats).
        latency_int8: The same for the int8 graph.
    """

    metric: str
    float32: float
    int8: float
    size_float32: int
    size_int8: int
    latency_float32: tuple[float, float]
    latency_int8: tuple[float, float]

    def __str__(self) -> str:
        def ms(seconds: float) -> str:
            return f"{1000 * seconds:.3f} ms"

        rows = [
            ("", "float32", "int8"),
            (self.metric, f"{self.float32:.4f}", f"{self.int8:.4f}"),
            ("size", f"{self.size_float32:,} B", f"{self.size_int8:,} B"),
            ("1 row", ms(self.latency_float32[0]), ms(self.latency_int8[0])),
            ("1,000 rows", ms(self.latency_float32[1]), ms(self.latency_int8[1])),
        ]
        return "\n".join(f"{a:<12}{b:>16}{c:>16}" for a, b, c in rows)


def _metric(manifest: dict[str, Any], outputs: np.ndarray, y: np.ndarray) -> tuple[str, float]:
    outputs = outputs.reshape(len(outputs), -1)
    labels = manifest.get("class_labels")
    if labels is None:
        return "rmse", float(np.sqrt(np.mean((outputs - y.reshape(len(y), -1)) ** 2)))
    threshold = manifest.get("decision_threshold")
    if outputs.shape[1] == 1:  # one logit
        index = (outputs[:, 0] > 0).astype(int)
    elif threshold is not None and outputs.shape[1] == 2:  # probabilities, tuned threshold
        index = (outputs[:, 1] >= threshold * outputs.sum(1)).astype(int)
    else:
        index = outputs.argmax(1)
    return "accuracy", float(np.mean(np.asarray(labels, dtype=object)[index] == y))


def _check_targets(manifest: dict[str, Any], x: np.ndarray, y: Any) -> np.ndarray:
    """``y`` of ``validation_data`` as an array; errors name what is wrong."""
    target = np.asarray(y)
    if len(x) == 0 or len(target) != len(x):
        raise ValueError(
            f"validation_data must hold as many targets as rows (at least one), got "
            f"{len(x)} rows and {len(target)} targets"
        )
    labels = manifest.get("class_labels")
    if labels is None:
        return target.astype(np.float64)
    target = target.reshape(len(target))
    unknown = sorted({str(v) for v in target} - {str(v) for v in labels})
    if unknown:
        raise ValueError(
            f"validation_data's targets must be the export's class labels {labels}, got "
            f"{unknown[:5]}; pass the labels, not their indices"
        )
    return np.asarray([labels[[str(v) for v in labels].index(str(t))] for t in target], object)


def _inputs(manifest: dict[str, Any], data: Any) -> np.ndarray:
    """The graph input of raw ``data``: a table's columns encoded, an array cast."""
    if "columns" in manifest:  # an AutoML export: the same codes as Predictor.encode
        return encode_table(data, manifest["columns"])
    return np.asarray(data, dtype=np.dtype(manifest["input"]["dtype"]))


def _scalar_bias_gemms(path: Path) -> list[str]:
    """``Gemm`` nodes with a broadcast (not per-output) bias, which ONNX Runtime cannot quantize."""
    import onnx

    graph = onnx.load(path).graph
    shapes = {i.name: len(i.dims) for i in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "Gemm" and len(node.input) > 2 and shapes.get(node.input[2], 1) != 1
    ]


def _latency(session: Any, name: str, x: np.ndarray, repeats: int = 5) -> tuple[float, float]:
    rows = np.resize(x, (1000, *x.shape[1:])).astype(x.dtype)
    out = []
    for batch in (rows[:1], rows):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            session.run(None, {name: batch})
            times.append(time.perf_counter() - started)
        out.append(float(np.median(times)))
    return out[0], out[1]


def quantize(
    path: str | os.PathLike[str],
    calibration_data: Any,
    validation_data: tuple[Any, Any],
    *,
    max_drop: float = 0.01,
    per_channel: bool = True,
) -> QuantizationReport:
    """Write ``model.int8.onnx`` into an export made with ``formats=("jax", "onnx")``.

    ONNX Runtime's static QDQ quantization (weights and activations in int8, scales from
    ``calibration_data``), not dynamic quantization, which leaves the ``Gemm`` nodes dense
    layers become in float32. The int8 graph is scored against the float32 one on
    ``validation_data``; it is kept (and recorded in ``hyperflax.json`` with the report) only
    when the metric drops by at most ``max_drop``.

    Args:
        path: An export directory with ``model.onnx``.
        calibration_data: Representative raw inputs (as given to ``predict``: a DataFrame
            for an AutoML export), a few hundred rows; they set the int8 ranges.
        validation_data: ``(x, y)`` held out from training and calibration: class labels for
            a classifier, values for a regressor.
        max_drop: The largest accepted fall in accuracy (classifiers, e.g. 0.01 = one point)
            or relative rise in RMSE (regressors, 0.01 = 1%).
        per_channel: One scale per output channel of each weight (better accuracy).

    Returns:
        The :class:`QuantizationReport` (print it for a table).

    Raises:
        ValueError: without ``model.onnx`` in the export, or when int8 drops the metric by
            more than ``max_drop`` (nothing is written then).
        ImportError: without the ``onnx`` extra.

    Example:
        >>> hx.export_model(model, "digits", example_input=x[:8],
        ...                 formats=("jax", "onnx"))  # doctest: +SKIP
        >>> print(hx.quantize("digits", x_train[:500], (x_val, y_val)))  # doctest: +SKIP
    """
    require_onnx()
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    root = Path(path)
    manifest = read_manifest(root)
    if "onnx" not in manifest:
        raise ValueError(
            f"{str(root)!r} has no {ONNX_FILE}; export it with formats=('jax', 'onnx') first"
        )
    name = manifest["onnx"]["input"]
    calibration = _inputs(manifest, calibration_data)
    x_val = _inputs(manifest, validation_data[0])
    y_val = _check_targets(manifest, x_val, validation_data[1])

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                np.array_split(calibration, max(1, len(calibration) // _CALIBRATION_BATCH))
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {name: batch}

    with tempfile.TemporaryDirectory(prefix="hx_quantize_", dir=root.parent) as scratch:
        int8, prepared = Path(scratch) / INT8_FILE, Path(scratch) / "prepared.onnx"
        # ONNX shape inference and graph folding; ONNX Runtime's symbolic shape inference
        # gives up on ensembles (tree lookups), and dense layers need none of it
        quant_pre_process(root / ONNX_FILE, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared, int8, Batches(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel, op_types_to_quantize=_DENSE_OPS,
            nodes_to_exclude=_scalar_bias_gemms(prepared),
        )  # fmt: skip
        sessions = [
            onnxruntime.InferenceSession(p, providers=["CPUExecutionProvider"])
            for p in (root / ONNX_FILE, int8)
        ]
        scores = [_metric(manifest, s.run(None, {name: x_val})[0], y_val) for s in sessions]
        metric, (before, after) = scores[0][0], (scores[0][1], scores[1][1])
        drop = before - after if metric == "accuracy" else (after - before) / max(before, 1e-12)
        if not (np.isfinite(drop) and drop <= max_drop):
            raise ValueError(
                f"int8 changes {metric} from {before:.4f} to {after:.4f} on validation_data, "
                f"more than max_drop={max_drop}; nothing was written. Keep the float32 "
                f"model, give more representative calibration_data, or raise max_drop"
            )
        report = QuantizationReport(
            metric, before, after, (root / ONNX_FILE).stat().st_size, int8.stat().st_size,
            _latency(sessions[0], name, x_val), _latency(sessions[1], name, x_val),
        )  # fmt: skip
        manifest.pop("files", None)
        manifest["onnx"]["int8"] = {"file": INT8_FILE, **dataclasses.asdict(report)}
        with atomic_directory(root, overwrite=True) as swap:  # all or nothing, as an export
            result = swap / RESULT
            shutil.copytree(root, result)
            os.replace(int8, result / INT8_FILE)
            write_manifest(result, manifest)
            finish_mlmodel(result, onnx=manifest["onnx"])  # its size counts the int8 file
            write_manifest(result, manifest)
    return report
