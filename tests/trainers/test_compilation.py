import threading

import jax
import numpy as np
import optax
from flax import nnx

from hyperflax.models import MLP
from hyperflax.trainers import CompilationCounter, Trainer, enable_compilation_cache


def _trial(x, y, hidden, dropout, learning_rate):
    model = MLP(64, 10, hidden, dropout=dropout, max_width=256, max_depth=3, rngs=nnx.Rngs(1))
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=learning_rate)
    trainer = Trainer(model, optimizer, "cross_entropy", ["accuracy"])
    history = trainer.fit(
        x[:240], y[:240], validation_data=(x[240:], y[240:]), epochs=2, batch_size=24
    )
    return history, trainer.evaluate(x[240:], y[240:], batch_size=24)


def test_same_architecture_space_compiles_once(digits):
    x, y = digits
    with CompilationCounter() as first:
        _trial(x, y, [64], 0.1, 1e-2)
    with CompilationCounter() as second:
        history, logs = _trial(x, y, [200, 200, 200], 0.3, 3e-3)
    assert first.count > 0
    assert second.count == 0
    assert np.isfinite(history.history["val_loss"]).all() and 0 <= logs["accuracy"] <= 1


def _shapes_trainer(width):
    # no capacity: every width is its own program, as in a user's model
    model = nnx.Sequential(
        nnx.Linear(64, width, rngs=nnx.Rngs(0)), nnx.relu, nnx.Linear(width, 10, rngs=nnx.Rngs(1))
    )
    return Trainer(model, optax.adam(1e-3), "cross_entropy", ["accuracy"], seed=3)


def test_compile_in_another_thread_leaves_fit_nothing_to_compile(digits):
    x, y = digits
    data = {"batch_size": 32, "validation_data": (x[240:320], y[240:320])}
    _shapes_trainer(8).fit(x[:240], y[:240], epochs=1, **data)  # the generic programs
    ahead, elsewhere = CompilationCounter(), CompilationCounter()

    def compile_ahead():
        with ahead:
            _shapes_trainer(37).compile(x[:240], y[:240], **data)

    with elsewhere:  # counts its own thread only
        thread = threading.Thread(target=compile_ahead)
        thread.start()
        thread.join()
    assert elsewhere.count == 0
    with CompilationCounter() as fitting:
        history = _shapes_trainer(37).fit(x[:240], y[:240], epochs=2, **data)
    assert ahead.count >= 2 and fitting.count == 0  # the epoch and the validation programs
    cold = _shapes_trainer(41)
    with CompilationCounter() as without:
        cold.fit(x[:240], y[:240], epochs=2, **data)
    assert without.count >= 2
    same = _shapes_trainer(37).fit(x[:240], y[:240], epochs=2, **data)  # compile changes nothing
    np.testing.assert_array_equal(history.history["val_loss"], same.history["val_loss"])


def test_counter_counts_new_programs_only():
    double = jax.jit(lambda v: v * 2)
    with CompilationCounter() as counter:
        double(np.arange(3.0))
        double(np.arange(3.0) + 1)
        double(np.arange(4.0))
    assert counter.count == 2 and counter.seconds > 0


def test_enable_compilation_cache_sets_jax_config_and_keeps_an_existing_cache(tmp_path):
    names = [
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    ]
    saved = [getattr(jax.config, name) for name in names]
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        assert enable_compilation_cache(tmp_path / "cache") == str(tmp_path / "cache")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
        assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0
        assert (tmp_path / "cache").is_dir()
        # one cache per process: a later call keeps the configured directory
        assert enable_compilation_cache(tmp_path / "other") == str(tmp_path / "cache")
        assert not (tmp_path / "other").exists()
    finally:
        for name, value in zip(names, saved, strict=True):
            jax.config.update(name, value)
