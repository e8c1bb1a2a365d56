"""Fitted scikit-learn scalers stored as plain arrays and applied without scikit-learn."""

import dataclasses
from typing import Any, Literal

import numpy as np

SUPPORTED_TYPES = ("sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.MinMaxScaler")

Kind = Literal["StandardScaler", "MinMaxScaler"]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """An elementwise affine scaler: ``(x - mean) / scale`` or ``x * scale + min`` (then clip).

    Example:
        >>> p = Preprocessing("StandardScaler", {"mean": np.array([1.0]), "scale": np.array([2.0])})
        >>> p.apply(np.array([[3.0]]))
        array([[1.]])
    """

    kind: Kind
    arrays: dict[str, np.ndarray]
    clip: tuple[float, float] | None = None

    @classmethod
    def from_transformer(cls, transformer: Any) -> "Preprocessing":
        """Extract the arrays of a fitted ``StandardScaler`` or ``MinMaxScaler``.

        Raises:
            TypeError: If ``transformer`` is of any other type (it is never pickled).
            ValueError: If it is not fitted.
        """
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        if type(transformer) not in (StandardScaler, MinMaxScaler):
            raise TypeError(
                f"preprocessing must be one of {', '.join(SUPPORTED_TYPES)} (stored as arrays, "
                f"never pickled), got {type(transformer).__module__}.{type(transformer).__name__}"
            )
        if not hasattr(transformer, "n_features_in_"):
            raise ValueError(f"preprocessing {type(transformer).__name__} is not fitted")
        n = transformer.n_features_in_
        if isinstance(transformer, StandardScaler):
            mean = transformer.mean_ if transformer.with_mean else np.zeros(n)
            scale = transformer.scale_ if transformer.with_std else np.ones(n)
            return cls("StandardScaler", {"mean": np.asarray(mean), "scale": np.asarray(scale)})
        low, high = transformer.feature_range
        return cls(
            "MinMaxScaler",
            {"scale": np.asarray(transformer.scale_), "min": np.asarray(transformer.min_)},
            clip=(float(low), float(high)) if transformer.clip else None,
        )

    @property
    def n_features(self) -> int:
        """The number of input features the scaler was fitted on."""
        return int(self.arrays["scale"].shape[0])

    def to_json(self) -> dict[str, Any]:
        """Return the JSON description; the arrays themselves go to the ``.npz``."""
        return {"type": self.kind, "arrays": sorted(self.arrays), "clip": self.clip}

    @classmethod
    def from_json(cls, data: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Preprocessing":
        """Rebuild from :meth:`to_json` output and the arrays named there.

        Raises:
            KeyError, TypeError, ValueError: If the description is malformed.
        """
        kind = data["type"]
        if kind not in ("StandardScaler", "MinMaxScaler"):
            raise ValueError(f"unknown preprocessing type {kind!r}")
        clip = None if data["clip"] is None else (float(data["clip"][0]), float(data["clip"][1]))
        return cls(kind, {name: arrays[name] for name in data["arrays"]}, clip)

    def apply(self, x: Any, xp: Any = np) -> np.ndarray:
        """Transform ``x`` of shape ``(batch, n_features)``.

        In float64 with NumPy; in float32 with another array module ``xp`` (``jax.numpy``, to
        trace the scaling into an ONNX graph).
        """
        x = np.asarray(x, dtype=np.float64) if xp is np else xp.asarray(x, dtype=xp.float32)
        a = {name: xp.asarray(value, dtype=x.dtype) for name, value in self.arrays.items()}
        if self.kind == "StandardScaler":
            return (x - a["mean"]) / a["scale"]
        out = x * a["scale"] + a["min"]
        return out if self.clip is None else xp.clip(out, *self.clip)
