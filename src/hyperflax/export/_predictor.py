"""Loading an artifact into a :class:`Predictor`: data only, no pickle, no Flax, no model code."""

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hyperflax._errors import ArtifactError
from hyperflax.export._arrays import PREPROCESSING_PREFIX, load_arrays, restore, weight_key
from hyperflax.export._manifest import ARRAYS_FILE, PROGRAM_FILE, TensorSpec, read_manifest
from hyperflax.export._preprocessing import Preprocessing
from hyperflax.export._table import encode_table


def _shape_text(features: tuple[int, ...]) -> str:
    return f"(batch, {', '.join(map(str, features))})" if features else "(batch,)"


def _casts(kind: str, dtype: np.dtype) -> bool:
    """Whether values of the Python type named ``kind`` cast to ``dtype`` keeping their kind."""
    return np.can_cast(np.dtype(kind), dtype, casting="same_kind")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class Predictor:
    """An exported model loaded for inference; created by :func:`load_model`.

    Attributes:
        path: The artifact directory.
        task: ``"classification"`` or ``"regression"``.
        input_spec: Dtype and shape of the model input (``None`` for the batch dimension).
        output_spec: Dtype and shape of the raw model output (logits for classifiers, or class
            probabilities for an AutoML ensemble).
        class_labels: The label of each class (classifiers), else ``None``.
        columns: For a table model (an AutoML export), each input column's name and kind,
            with the vocabulary of a categorical column; else ``None``.
        decision_threshold: The probability of the second class above which a binary
            classifier predicts it (an AutoML export's calibrated threshold), else ``None``.
        metadata: The user metadata given at export (hyperparameters, metrics, ...).
        versions: Library versions at export time.

    Example:
        >>> predictor = load_model("exported/digits")  # doctest: +SKIP
        >>> predictor.predict(x_test[:3])  # doctest: +SKIP
        array([7, 2, 1])
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        program: jax.export.Exported,
        weights: list[np.ndarray],
        preprocessing: Preprocessing | None,
    ) -> None:
        self.path = path
        self.task: str = manifest["task"]
        self.input_spec = TensorSpec.from_json(manifest["input"])
        self.output_spec = TensorSpec.from_json(manifest["output"])
        self.class_labels: list[Any] | None = manifest["class_labels"]
        self.metadata: dict[str, Any] = manifest["metadata"]
        self.versions: dict[str, str | None] = manifest["versions"]
        self.columns: list[dict[str, Any]] | None = manifest.get("columns")
        self.decision_threshold: float | None = manifest.get("decision_threshold")
        self._activation: str | None = manifest["output"]["activation"]
        self._kind: str = manifest["output"]["kind"]
        self._preprocessing = preprocessing
        self._weights = jax.device_put(weights)
        self._call = jax.jit(program.call)

    def __repr__(self) -> str:
        return f"Predictor(path='{self.path}', task={self.task!r}, input={self.input_spec})"

    def _check_input(self, x: Any) -> np.ndarray:
        if self.columns is not None:  # a table: columns by name or position, then codes
            x = encode_table(x, self.columns)
        x = np.asarray(x)
        spec, features = self.input_spec, self.input_spec.feature_shape
        if not np.can_cast(x.dtype, spec.dtype, casting="same_kind"):
            kinds = [k for k in ("bool", "int", "float") if _casts(k, spec.dtype)]
            raise ValueError(
                f"expected a numeric input (dtype {spec.dtype}), got dtype {x.dtype}: the input "
                f"of shape {_shape_text(features)} must hold numbers ({'/'.join(kinds)}); "
                "convert strings, nulls and objects to numbers first"
            )
        if x.ndim != len(spec.shape) or x.shape[1:] != features:
            raise ValueError(
                f"expected input of shape {_shape_text(features)}, got shape {x.shape}: the "
                f"first axis is the batch, and each example has shape {features}"
            )
        return x

    def _cast(self, x: np.ndarray) -> np.ndarray:
        """Cast ``x`` to the program's input dtype, refusing values that dtype cannot hold."""
        dtype = self.input_spec.dtype
        with np.errstate(over="ignore"):  # overflows are refused below
            cast = x.astype(dtype)
        lost = np.isinf(cast) & np.isfinite(x) if dtype.kind == "f" else cast != x
        if np.any(lost):
            raise ValueError(
                f"input values must fit the model's input dtype {dtype}, got "
                f"{x[lost][0].item()!r}; bring the inputs into the range of {dtype}"
            )
        return cast

    def encode(self, x: Any) -> np.ndarray:
        """The program's input for ``x``, as ``model.onnx`` (and any other runtime) takes it.

        For a table model (an AutoML export), the float32 codes of its columns: numbers as
        they are (NaN for missing), categories as positions in ``columns``' vocabularies (the
        vocabulary's length for missing, one more for unseen); otherwise ``x`` cast to the
        input dtype.

        Example:
            >>> codes = load_model("exported/table").encode(frame)  # doctest: +SKIP
            >>> session.run(None, {"x": codes})  # doctest: +SKIP
        """
        x = self._check_input(x)
        if self._preprocessing is not None:
            x = self._preprocessing.apply(x)
        return self._cast(x)

    def outputs(self, x: Any) -> np.ndarray:
        """Return the raw model output (logits for classifiers) for a batch.

        Args:
            x: Array of shape ``(batch, *input_spec.shape[1:])`` whose dtype casts to
                ``input_spec.dtype`` without changing kind: bool, int or float for a float
                model (float64 and int64 inputs are cast to float32). A table model takes a
                DataFrame (columns by name), a mapping of columns, or rows of values in the
                order of ``columns``; numbers and text as in training, missing values as
                ``None``/NaN, unseen categories allowed.

        Raises:
            ValueError: If ``x`` has the wrong feature shape, a dtype that does not cast (strings,
                objects, complex numbers; floats for an integer model) or values the input dtype
                cannot hold.

        Example:
            >>> load_model("exported/digits").outputs(x_test[:2]).shape  # doctest: +SKIP
            (2, 10)
        """
        x = self.encode(x)
        if x.shape[0] == 0:  # symbolic batch dimensions are >= 1
            return np.zeros((0, *self.output_spec.feature_shape), self.output_spec.dtype)
        return np.asarray(self._call(self._weights, x))

    def predict(self, x: Any) -> np.ndarray:
        """Predict a batch: outputs for regression, class labels for classification.

        Args:
            x: Array of shape ``(batch, *input_spec.shape[1:])`` with a numeric dtype, cast to
                ``input_spec.dtype`` as in :meth:`outputs`.

        Returns:
            Regression: the model outputs. Classification: one label per row.

        Example:
            >>> load_model("exported/digits").predict(x_test[:3])  # doctest: +SKIP
            array([7, 2, 1])
        """
        if self.class_labels is None:
            return self.outputs(x)
        proba = self.predict_proba(x)
        labels = np.asarray(self.class_labels)
        if self.decision_threshold is not None and proba.shape[-1] == 2:
            return labels[(proba[:, 1] >= self.decision_threshold).astype(int)]
        return labels[proba.argmax(axis=-1)]

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities of a batch, shape ``(batch, n_classes)`` (classifiers only).

        The logits go through a softmax, or a sigmoid for a single-logit binary classifier;
        a program that returns probabilities (an AutoML ensemble) is only normalized.

        Raises:
            TypeError: If the artifact is a regressor.

        Example:
            >>> load_model("exported/digits").predict_proba(x_test[:1]).sum()  # doctest: +SKIP
            1.0
        """
        if self.class_labels is None:
            raise TypeError(f"predict_proba needs a classifier; '{self.path}' is a {self.task}")
        logits = self.outputs(x).astype(np.float64)
        if self._kind == "probabilities":
            return logits / logits.sum(axis=-1, keepdims=True)
        if self._activation == "sigmoid":
            positive = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
            return np.stack([1.0 - positive, positive], axis=-1)
        return _softmax(logits)


def _load_program(path: Path) -> jax.export.Exported:
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception as e:  # a damaged flatbuffer fails in many ways
        raise ArtifactError(path, f"cannot deserialize the jax.export program ({e})") from e


def _check_spec(path: Path, what: str, spec: TensorSpec, aval: Any) -> None:
    if np.dtype(aval.dtype) != spec.dtype or tuple(aval.shape[1:]) != spec.feature_shape:
        raise ArtifactError(path, f"program {what} {aval} does not match hyperflax.json {spec}")


def _load_weights(path: Path, arrays: dict[str, np.ndarray], program: Any) -> list[np.ndarray]:
    specs = program.in_avals[:-1]
    names = [weight_key(i) for i in range(len(specs))]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ArtifactError(path, f"{len(missing)} weight arrays missing, e.g. {missing[0]!r}")
    return [
        restore(path, name, arrays[name], spec) for name, spec in zip(names, specs, strict=True)
    ]


def _load_preprocessing(
    description: dict[str, Any] | None, arrays: dict[str, np.ndarray]
) -> Preprocessing | None:
    if description is None:
        return None
    prefix = len(PREPROCESSING_PREFIX)
    own = {k[prefix:]: v for k, v in arrays.items() if k.startswith(PREPROCESSING_PREFIX)}
    return Preprocessing.from_json(description, own)


def load_model(path: str | os.PathLike[str]) -> Predictor:
    """Load an artifact written by :func:`export_model`, without Flax or the model's code.

    Every file's sha256 is checked first; weights load with ``allow_pickle=False`` and the
    program is deserialized data, so loading runs no code from the artifact.

    Args:
        path: The artifact directory.

    Returns:
        A :class:`Predictor`.

    Raises:
        ArtifactError: If the directory is missing, not a hyperflax artifact, corrupted, or was
            written by a newer hyperflax.

    Example:
        >>> predictor = load_model("exported/digits")  # doctest: +SKIP
        >>> predictor.input_spec  # doctest: +SKIP
        TensorSpec(dtype=dtype('float32'), shape=(None, 64))
    """
    directory = Path(path)
    manifest = read_manifest(directory)
    program = _load_program(directory / PROGRAM_FILE)
    arrays = load_arrays(directory / ARRAYS_FILE)
    weights = _load_weights(directory / ARRAYS_FILE, arrays, program)
    try:
        preprocessing = _load_preprocessing(manifest["preprocessing"], arrays)
        predictor = Predictor(directory, manifest, program, weights, preprocessing)
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(directory, f"malformed hyperflax.json ({type(e).__name__}: {e})") from e
    _check_spec(directory / PROGRAM_FILE, "input", predictor.input_spec, program.in_avals[-1])
    _check_spec(directory / PROGRAM_FILE, "output", predictor.output_spec, program.out_avals[0])
    return predictor
