"""Artifact size, cold load and latency of exported models in every runtime (issue 10).

The digits MLP [128, 128] (with its StandardScaler) is trained for 20 epochs, then exported
with ``formats=("jax", "onnx", "ort")`` and quantized to int8. Side by side in one run:

- cold load: a fresh Python process imports the runtime, loads the artifact and predicts one
  row (median of 3 processes);
- latency: one row and 1,000 rows, median of 50 and 20 calls after a warm-up, for the fitted
  model in Python (a jitted call of the NNX module, scaler in NumPy), the exported JAX program
  (``hx.load_model(...).outputs``), ONNX Runtime float32 (``.onnx`` and ``.ort``) and int8.

Then one AutoML ensemble: ``TabularClassifier(time_limit=60)`` (default preset: every family
bagged on 5 folds, a stack layer when it helps) on the bank-loan table ``loanapp`` (numeric,
categorical and missing columns), exported with ``est.export``: the same measures for the
fitted estimator's ``predict_proba`` (scikit-learn, Flax), the exported program taking a
DataFrame (``hx.load_model(...).predict_proba``), and ONNX Runtime float32 and int8
(``hx.quantize``: dense layers in int8) on the table encoded by ``Predictor.encode``.

Run: .venv/bin/python -m bench.export_latency   (needs the onnx extra and the bench extra)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

import hyperflax as hx

_LOAD_JAX = """
import time, numpy as np
t = time.perf_counter()
import hyperflax.export as e
m = e.load_model({path!r}); m.outputs(np.zeros((1, 64), np.float32))
print(time.perf_counter() - t)
"""
_LOAD_TABLE = """
import time, pandas as pd
t = time.perf_counter()
import hyperflax.export as e
m = e.load_model({path!r}); m.predict_proba(pd.read_parquet({rows!r}))
print(time.perf_counter() - t)
"""
_LOAD_TABLE_ORT = """
import time, pandas as pd
t = time.perf_counter()
import onnxruntime as ort, hyperflax.export as e
m = e.load_model({path!r})  # for its vocabularies (Predictor.encode)
s = ort.InferenceSession({path!r} + "/{model}", providers=["CPUExecutionProvider"])
s.run(None, {{s.get_inputs()[0].name: m.encode(pd.read_parquet({rows!r}))}})
print(time.perf_counter() - t)
"""
_LOAD_ORT = """
import time, numpy as np
t = time.perf_counter()
import onnxruntime as ort
s = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
s.run(None, {{s.get_inputs()[0].name: np.zeros((1, 64), np.float32)}})
print(time.perf_counter() - t)
"""


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cold(code: str) -> float:
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()[-1])
        for _ in range(3)
    ]  # fmt: skip
    return statistics.median(runs)


def _size(*files: Path) -> int:
    return sum(f.stat().st_size for f in files)


def main() -> None:
    import onnxruntime as ort

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    scaler = StandardScaler().fit(x[:1200])
    model = hx.models.MLP(in_features=64, out_features=10, hidden=[128, 128], rngs=nnx.Rngs(0))
    trainer = hx.trainers.Trainer(model, optax.adam(1e-3), "cross_entropy")
    trainer.fit(scaler.transform(x[:1200]).astype(np.float32), y[:1200], epochs=20, batch_size=64)
    with tempfile.TemporaryDirectory() as scratch:
        path = hx.export_model(
            model, Path(scratch) / "digits", example_input=x[:8], preprocessing=scaler,
            class_labels=list(range(10)), formats=("jax", "onnx", "ort"),
        )  # fmt: skip
        report = hx.quantize(path, x[:400], (x[1200:], y[1200:]), max_drop=0.02)
        model.eval()
        forward = jax.jit(lambda v: model(v))

        def fitted(rows: np.ndarray) -> np.ndarray:
            return np.asarray(forward(scaler.transform(rows).astype(np.float32)))

        predictor = hx.load_model(path)
        sessions = {
            name: ort.InferenceSession(str(path / name), providers=["CPUExecutionProvider"])
            for name in ("model.onnx", "model.ort", "model.int8.onnx")
        }
        runners: dict[str, Callable[[np.ndarray], object]] = {
            "fitted model (jit, Python)": fitted,
            "JAX program (hx.load_model)": predictor.outputs,
            **{
                f"ONNX Runtime {label}": (lambda s: lambda rows: s.run(
                    None, {s.get_inputs()[0].name: rows}))(sessions[name])
                for label, name in (("float32 .onnx", "model.onnx"), ("float32 .ort",
                                    "model.ort"), ("int8 .onnx", "model.int8.onnx"))
            },
        }  # fmt: skip
        program = (path / "program.jaxexport", path / "arrays.npz")
        sizes = {
            "fitted model (jit, Python)": None,
            "JAX program (hx.load_model)": _size(*program),
            "ONNX Runtime float32 .onnx": _size(path / "model.onnx"),
            "ONNX Runtime float32 .ort": _size(path / "model.ort"),
            "ONNX Runtime int8 .onnx": _size(path / "model.int8.onnx"),
        }
        cold = {
            "JAX program (hx.load_model)": _cold(_LOAD_JAX.format(path=str(path))),
            "ONNX Runtime float32 .onnx": _cold(_LOAD_ORT.format(path=str(path / "model.onnx"))),
            "ONNX Runtime float32 .ort": _cold(_LOAD_ORT.format(path=str(path / "model.ort"))),
            "ONNX Runtime int8 .onnx": _cold(_LOAD_ORT.format(path=str(path / "model.int8.onnx"))),
        }
        one, many = x[1200:1201], np.resize(x[1200:], (1000, 64)).astype(np.float32)
        print("| runtime | size (bytes) | cold load + 1 row (s) | 1 row (ms) | 1,000 rows (ms) |")
        print("|---|---|---|---|---|")
        for name, run in runners.items():
            t1 = _median_time(lambda run=run: run(one), 50)
            t1000 = _median_time(lambda run=run: run(many), 20)
            size = "—" if sizes[name] is None else f"{sizes[name]:,}"
            load = f"{cold[name]:.2f}" if name in cold else "—"
            print(f"| {name} | {size} | {load} | {1000 * t1:.3f} | {1000 * t1000:.3f} |")
        print(f"\nint8 against float32 on 597 held-out digits: accuracy {report.float32:.4f} -> "
              f"{report.int8:.4f}")  # fmt: skip


def automl() -> None:
    import onnxruntime as ort

    from bench import _tables

    table = _tables.load("loanapp")
    x_train, x_test, y_train, y_test = _tables.split(table, 0)
    est = hx.automl.TabularClassifier(time_limit=60, seed=0).fit(x_train, y_train)
    with tempfile.TemporaryDirectory() as scratch:
        path = est.export(Path(scratch) / "loanapp", formats=("jax", "onnx", "ort"))
        report = hx.quantize(path, x_train.sample(300, random_state=0), (x_test, y_test))
        predictor = hx.load_model(path)
        one, many = x_test.iloc[:1], x_test.sample(1000, replace=True, random_state=0)
        rows = Path(scratch) / "row.parquet"
        one.to_parquet(rows)
        gap = np.abs(predictor.predict_proba(x_test) - est.predict_proba(x_test)).max()
        sessions = {
            name: ort.InferenceSession(str(path / name), providers=["CPUExecutionProvider"])
            for name in ("model.onnx", "model.int8.onnx")
        }
        # the graphs take the encoded table (Predictor.encode: the JSON vocabulary in NumPy)
        runners: dict[str, Callable[[object], object]] = {
            "fitted estimator (predict_proba)": est.predict_proba,
            "JAX program (hx.load_model)": predictor.predict_proba,
            **{
                f"ONNX Runtime {label} (encode + run)": (lambda s: lambda frame: s.run(
                    None, {s.get_inputs()[0].name: predictor.encode(frame)}))(sessions[name])
                for label, name in (("float32", "model.onnx"), ("int8", "model.int8.onnx"))
            },
        }  # fmt: skip
        sizes = {
            "JAX program (hx.load_model)": _size(path / "program.jaxexport", path / "arrays.npz"),
            "ONNX Runtime float32 (encode + run)": _size(path / "model.onnx"),
            "ONNX Runtime int8 (encode + run)": _size(path / "model.int8.onnx"),
        }
        cold = {
            "JAX program (hx.load_model)": _cold(
                _LOAD_TABLE.format(path=str(path), rows=str(rows))
            ),
            **{
                f"ONNX Runtime {label} (encode + run)": _cold(
                    _LOAD_TABLE_ORT.format(path=str(path), model=name, rows=str(rows)))
                for label, name in (("float32", "model.onnx"), ("int8", "model.int8.onnx"))
            },
        }  # fmt: skip
        members = est.leaderboard()
        kept = members[members["ensemble_weight"] > 0]
        print(f"\nAutoML ensemble on loanapp ({len(x_train)} rows, {x_train.shape[1]} columns): "
              f"{len(kept)} weighted candidates ({', '.join(kept['family'])}), "
              f"{int(kept['n_models'].sum())} fitted models, stack kept: "
              f"{hasattr(est, 'stack_')}; largest |export - estimator| of predict_proba on "
              f"{len(x_test)} test rows: {gap:.1e}; int8 against float32 accuracy on them: "
              f"{report.float32:.4f} -> {report.int8:.4f}\n")  # fmt: skip
        print("| runtime | size (bytes) | cold load + 1 row (s) | 1 row (ms) | 1,000 rows (ms) |")
        print("|---|---|---|---|---|")
        for name, run in runners.items():
            t1 = _median_time(lambda run=run: run(one), 20)
            t1000 = _median_time(lambda run=run: run(many), 10)
            size = f"{sizes[name]:,}" if name in sizes else "—"
            load = f"{cold[name]:.2f}" if name in cold else "—"
            print(f"| {name} | {size} | {load} | {1000 * t1:.3f} | {1000 * t1000:.3f} |")


if __name__ == "__main__":
    main()
    automl()
