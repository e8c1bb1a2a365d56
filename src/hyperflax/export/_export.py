"""``export_model``: one directory that is a hyperflax artifact and an MLflow model."""

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hyperflax._npz import write_npz
from hyperflax.export._arrays import PREPROCESSING_PREFIX, weight_key
from hyperflax.export._atomic import RESULT, atomic_directory
from hyperflax.export._manifest import (
    ARRAYS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    PROGRAM_FILE,
    PYFUNC_FILE,
    TensorSpec,
    installed_versions,
    to_json_text,
    write_manifest,
)
from hyperflax.export._mlflow import finish_mlmodel, save_pyfunc
from hyperflax.export._onnx import (
    ONNX_FILE,
    ORT_FILE,
    require_onnx,
    write_onnx,
    write_onnx_function,
    write_ort,
)
from hyperflax.export._predictor import load_model
from hyperflax.export._preprocessing import Preprocessing
from hyperflax.export._program import PLATFORMS, ExportedProgram, lower_model
from hyperflax.export._table import encode_table

MANIFEST_VERSIONS = ("hyperflax", "jax", "jaxlib", "flax", "numpy")
INPUT_EXAMPLE_ROWS = 1


FORMATS = ("jax", "onnx", "ort")


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    chosen = (formats,) if isinstance(formats, str) else tuple(formats or ())
    bad = "jax" not in chosen or any(f not in FORMATS for f in chosen)
    if bad or ("ort" in chosen and "onnx" not in chosen):
        raise ValueError(
            f"formats must hold 'jax' and optionally 'onnx' (and 'ort', which needs 'onnx'), "
            f"got {formats!r}; e.g. formats=('jax', 'onnx')"
        )
    return chosen


def _check_example(example_input: Any) -> np.ndarray:
    example = np.asarray(example_input)
    if example.ndim < 1 or example.shape[0] < 1 or example.dtype.kind not in "biuf":
        raise ValueError(
            "example_input must be a numeric array of shape (batch, *features) with batch >= 1, "
            f"got dtype {example.dtype} and shape {example.shape}"
        )
    return example


def _check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = dict(metadata or {})
    try:
        to_json_text(metadata)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata must be JSON-serializable: {e}") from e
    if metadata.get("task") not in (None, "classification", "regression"):
        raise ValueError(
            f"metadata['task'] must be 'classification' or 'regression', got {metadata['task']!r}"
        )
    return metadata


def _check_preprocessing(transformer: Any, example: np.ndarray) -> Preprocessing | None:
    if transformer is None:
        return None
    scaler = Preprocessing.from_transformer(transformer)
    if example.ndim != 2 or example.shape[1] != scaler.n_features:
        raise ValueError(
            f"preprocessing expects inputs of shape (batch, {scaler.n_features}), "
            f"but example_input has shape {example.shape}"
        )
    return scaler


def _classes(
    metadata: dict[str, Any], class_labels: Sequence[Any] | None, output: TensorSpec
) -> tuple[list[Any] | None, str | None]:
    """Return the class labels and the logits' activation; ``(None, None)`` for regression."""
    if class_labels is None and metadata.get("task") != "classification":
        return None, None
    if metadata.get("task") == "regression":
        raise ValueError("class_labels were given but metadata['task'] is 'regression'")
    if len(output.feature_shape) > 1:
        raise ValueError(
            f"a classifier must output logits of shape (batch, n_classes), got {output.shape}"
        )
    n_logits = output.feature_shape[0] if output.feature_shape else 1
    n_classes = max(n_logits, 2)
    labels = list(range(n_classes)) if class_labels is None else np.asarray(class_labels).tolist()
    if not isinstance(labels, list) or len(labels) != n_classes:
        raise ValueError(
            f"class_labels must be a flat sequence of {n_classes} labels for a model with "
            f"{n_logits} output logit(s), got {class_labels!r}"
        )
    return labels, "sigmoid" if n_logits == 1 else "softmax"


def _write_core(
    directory: Path,
    program: ExportedProgram,
    scaler: Preprocessing | None,
    manifest: dict[str, Any],
) -> None:
    """Write the files ``load_model`` needs, plus the pyfunc code file, to ``directory``."""
    directory.mkdir()
    (directory / PROGRAM_FILE).write_bytes(program.serialized)
    arrays = {weight_key(i): w for i, w in enumerate(program.weights)}
    if scaler is not None:
        arrays |= {PREPROCESSING_PREFIX + k: v for k, v in scaler.arrays.items()}
    write_npz(directory / ARRAYS_FILE, arrays)
    shutil.copyfile(Path(__file__).with_name("_pyfunc_model.py"), directory / PYFUNC_FILE)
    write_manifest(directory, manifest)


def export_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    example_input: Any = None,
    preprocessing: Any = None,
    metadata: dict[str, Any] | None = None,
    class_labels: Sequence[Any] | None = None,
    overwrite: bool = False,
    formats: Sequence[str] = ("jax",),
) -> Path:
    """Export a model to a directory that is a hyperflax artifact and an MLflow model.

    ``model`` is a Flax NNX module, or a fitted AutoML estimator
    (``hx.automl.TabularClassifier``/``TabularRegressor``), which exports its whole pipeline
    as one program (see its ``export``; ``example_input`` is not needed).

    The model runs in eval mode as a ``jax.export`` program with a symbolic batch dimension,
    lowered for CPU and CUDA; its weights are program arguments stored in a pickle-free
    ``.npz``. ``hyperflax.json`` records the input and output specs, task, class labels,
    metadata, library versions and every file's sha256. The same directory is an MLflow
    ``python_function`` model (models-from-code) loadable with ``mlflow.pyfunc.load_model`` and
    servable with ``mlflow models serve``. The directory appears atomically: a failure leaves no
    partial target, and an existing artifact is replaced only once the new one is complete.

    Args:
        model: A ``flax.nnx.Module`` called as ``model(x)`` and returning one array (logits for
            classifiers), or a fitted AutoML estimator.
        path: The directory to write.
        example_input: A numeric array of shape ``(batch, *features)`` as passed to
            :meth:`Predictor.predict` (before ``preprocessing``); fixes feature shape and dtype.
        preprocessing: An optional fitted ``sklearn.preprocessing.StandardScaler`` or
            ``MinMaxScaler``, stored as arrays and applied before the model.
        metadata: JSON-serializable user metadata (hyperparameters, metrics, ...);
            ``{"task": "classification"}`` makes a classifier without ``class_labels``.
        class_labels: The label of each logit (or both labels of a single-logit binary
            classifier); makes the export a classifier.
        overwrite: Replace an existing artifact at ``path``.
        formats: ``("jax",)``, or ``("jax", "onnx")`` to also write ``model.onnx`` (the
            preprocessing and the model as one ONNX graph with a symbolic batch dimension,
            returning what the JAX program returns), converted by jax2onnx and checked
            against the JAX model by ONNX Runtime on ``example_input``; the MLflow model gains
            the ``onnx`` flavor. ``"ort"`` adds ``model.ort``, the same graph in ONNX Runtime
            Mobile's format (Android, iOS), checked the same way. Needs
            ``pip install 'hyperflax[onnx]'``.

    Returns:
        The absolute path of the written directory.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false, or it is not an artifact.
        TypeError: For an unsupported ``preprocessing``, non-serializable ``metadata`` or a
            model that is not an ``nnx.Module``.
        ValueError: For inputs the model or the preprocessing cannot take, class labels that
            do not match the model's outputs, unknown ``formats``, or an ONNX graph that does
            not reproduce the JAX model.
        ImportError: For ``"onnx"`` in ``formats`` without the ``onnx`` extra.

    Example:
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))  # doctest: +SKIP
        >>> export_model(model, "exported/iris", example_input=x_train[:8],
        ...              class_labels=["setosa", "versicolor", "virginica"])  # doctest: +SKIP
        PosixPath('/home/me/exported/iris')
    """
    if hasattr(model, "export") and hasattr(model, "leaderboard"):  # an AutoML estimator
        if example_input is not None or preprocessing is not None or class_labels is not None:
            raise TypeError(
                "an AutoML estimator exports its own preprocessing, classes and inputs: call "
                "export_model(estimator, path) without example_input, preprocessing or "
                "class_labels"
            )
        return Path(model.export(path, metadata=metadata, overwrite=overwrite, formats=formats))
    if example_input is None:
        raise TypeError(
            "export_model() needs example_input=... for a Flax module: a batch of inputs as "
            "passed to Predictor.predict, e.g. example_input=x_train[:8]"
        )
    target = Path(path).absolute()
    formats = _check_formats(formats)
    if "onnx" in formats:
        require_onnx()  # before anything is lowered
    example = _check_example(example_input)
    metadata = _check_metadata(metadata)
    scaler = _check_preprocessing(preprocessing, example)
    with atomic_directory(target, overwrite=overwrite) as scratch:
        program = lower_model(model, example if scaler is None else scaler.apply(example))
        labels, activation = _classes(metadata, class_labels, program.output_spec)
        manifest = _manifest(
            program, labels, metadata, kind="values" if labels is None else "logits",
            activation=activation, preprocessing=None if scaler is None else scaler.to_json(),
        )  # fmt: skip
        work = scratch / "work"
        _write_core(work, program, scaler, manifest)
        x = example.astype(jax.dtypes.canonicalize_dtype(example.dtype))
        onnx = _onnx_files(
            work, manifest, formats, x, x,
            lambda onnx_path, want: write_onnx(model, scaler, x, want, onnx_path),
        )  # fmt: skip
        _finish(scratch, manifest, example[:INPUT_EXAMPLE_ROWS], formats, onnx)
    return target


def _manifest(
    program: ExportedProgram,
    labels: list[Any] | None,
    metadata: dict[str, Any],
    *,
    kind: str,
    activation: str | None,
    preprocessing: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "task": "regression" if labels is None else "classification",
        "input": program.input_spec.to_json(),
        "output": {**program.output_spec.to_json(), "kind": kind, "activation": activation},
        "class_labels": labels,
        "preprocessing": preprocessing,
        "program": {"platforms": list(PLATFORMS), "weights": program.weight_names},
        "metadata": metadata,
        "versions": installed_versions(MANIFEST_VERSIONS),
    }


def _onnx_files(
    work: Path,
    manifest: dict[str, Any],
    formats: Sequence[str],
    x: np.ndarray,
    rows: Any,
    convert: Callable[[Path, np.ndarray], dict[str, Any]],
) -> dict[str, Any] | None:
    """Write ``model.onnx`` (and ``model.ort``) as ``formats`` ask, checked on the example.

    ``rows`` is the example as :meth:`Predictor.outputs` takes it and ``x`` as the graph takes
    it; the graphs must reproduce what the artifact in ``work`` computes for it.
    """
    if "onnx" not in formats:
        return None
    want = load_model(work).outputs(rows)
    onnx = manifest["onnx"] = convert(work / ONNX_FILE, want)
    if "ort" in formats:
        manifest["ort"] = write_ort(work / ONNX_FILE, work / ORT_FILE, x, want)
    return onnx


def _finish(
    scratch: Path,
    manifest: dict[str, Any],
    rows: Any,
    formats: Sequence[str],
    onnx: dict[str, Any] | None,
) -> None:
    """Make ``scratch/work`` (a loadable artifact) the MLflow model ``scratch/RESULT``."""
    work, result = scratch / "work", scratch / RESULT
    save_pyfunc(work / PYFUNC_FILE, result, rows, load_model(work).predict(rows))
    extra = [f for f, kind in ((ONNX_FILE, "onnx"), (ORT_FILE, "ort")) if kind in formats]
    for name in (PROGRAM_FILE, ARRAYS_FILE, *extra):
        os.replace(work / name, result / name)
    write_manifest(result, manifest)  # first, so that MLmodel's size counts it
    finish_mlmodel(result, onnx=onnx)
    write_manifest(result, manifest)  # MLmodel's new sha256; the same size


def export_table_program(
    program: ExportedProgram,
    path: str | os.PathLike[str],
    *,
    columns: list[dict[str, Any]],
    class_labels: Sequence[Any] | None,
    decision_threshold: float | None,
    metadata: dict[str, Any] | None,
    example_rows: Any,
    overwrite: bool,
    function: Callable[[Any], Any],
    formats: Sequence[str] = ("jax",),
) -> Path:
    """Write a table model's program (input: :mod:`~hyperflax.export._table` codes) as an artifact.

    The program returns class probabilities (a classifier: ``class_labels`` given) or values.
    ``hyperflax.json`` records ``columns`` (with each categorical column's vocabulary) and the
    binary ``decision_threshold``, which :class:`Predictor` applies.

    Args:
        program: The lowered program, taking the float32 codes of ``columns``.
        path: The directory to write.
        columns: The input columns, as :func:`~hyperflax.export._table.encode_table` takes them.
        class_labels: The label of each probability column, or ``None`` for a regressor.
        decision_threshold: A binary classifier's threshold on the second class, or ``None``.
        metadata: JSON-serializable user metadata.
        example_rows: A DataFrame of a few rows: the MLflow input example (its first row) and
            what ONNX graphs are checked on.
        overwrite: Replace an existing artifact at ``path``.
        function: The program as a function of the codes alone (weights closed over), which
            ONNX graphs are converted from.
        formats: ``("jax",)``, or with ``"onnx"`` (and ``"ort"``) as in :func:`export_model`.

    Returns:
        The absolute path of the written directory.

    Raises:
        ValueError: For unknown formats, or an ONNX graph that does not reproduce the program.
        ImportError: For ``"onnx"`` without the ``onnx`` extra.
    """
    formats = _check_formats(formats)
    if "onnx" in formats:
        require_onnx()  # before anything is written
    metadata = _check_metadata(metadata)
    target = Path(path).absolute()
    labels = None if class_labels is None else np.asarray(class_labels).tolist()
    with atomic_directory(target, overwrite=overwrite) as scratch:
        manifest = _manifest(
            program, labels, metadata, kind="values" if labels is None else "probabilities",
            activation=None, preprocessing=None,
        )  # fmt: skip
        manifest |= {"columns": columns, "decision_threshold": decision_threshold}
        work = scratch / "work"
        _write_core(work, program, None, manifest)
        x = encode_table(example_rows, columns)
        onnx = _onnx_files(
            work, manifest, formats, x, example_rows,
            lambda onnx_path, want: write_onnx_function(function, x, want, onnx_path),
        )  # fmt: skip
        _finish(scratch, manifest, example_rows.iloc[:INPUT_EXAMPLE_ROWS], formats, onnx)
    return target
