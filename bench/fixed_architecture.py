"""A fixed architecture tuned over learning rate, weight decay and dropout: 32 trials.

hyperflax against the usual hand-written Optuna + Flax NNX + Optax loop (a jitted ``lax.scan``
epoch built inside each trial, dropout a Python float), side by side in one process. Prints
seconds per trial and XLA compilations per trial. Run:
``.venv/bin/python -m bench.fixed_architecture``.
"""

import tempfile
import time

import jax
import jax.numpy as jnp
import optax
import optuna
from flax import nnx

import hyperflax as hx
from bench._digits import digits_split
from hyperflax.trainers import CompilationCounter

TRIALS, EPOCHS, BATCH, WIDTH = 32, 10, 64, 128


def _space(hp_float):
    return (
        hp_float("lr", 1e-4, 1e-2, True),
        hp_float("wd", 1e-6, 1e-2, True),
        hp_float("dropout", 0.0, 0.5, False),
    )


def hyperflax_trials(data, directory):
    x_train, x_val, y_train, y_val = data

    def build(hp, rngs):
        dropout = hp.Float("dropout", 0.0, 0.5)
        return hx.models.MLP(64, 10, [WIDTH, WIDTH], dropout=dropout, rngs=rngs)

    hypermodel = hx.HyperModel(
        build,
        optimizer=lambda hp: optax.inject_hyperparams(optax.adamw)(
            learning_rate=hp.Float("lr", 1e-4, 1e-2, log=True),
            weight_decay=hp.Float("wd", 1e-6, 1e-2, log=True),
        ),
        metrics=["accuracy"],
    )
    tuner = hx.tuners.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=TRIALS, seed=0, directory=directory
    )
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=BATCH)
    return tuner.get_best_trials(1)[0].value


class _Net(nnx.Module):
    def __init__(self, dropout, rngs):
        self.l1 = nnx.Linear(64, WIDTH, rngs=rngs)
        self.l2 = nnx.Linear(WIDTH, WIDTH, rngs=rngs)
        self.out = nnx.Linear(WIDTH, 10, rngs=rngs)
        self.drop = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x):
        x = self.drop(jax.nn.relu(self.l1(x)))
        return self.out(self.drop(jax.nn.relu(self.l2(x))))


def handwritten_trials(data):
    x_train, x_val, y_train, y_val = (jnp.asarray(a) for a in data)
    steps = len(x_train) // BATCH

    def objective(trial):
        lr, wd, dropout = _space(lambda n, lo, hi, log: trial.suggest_float(n, lo, hi, log=log))
        model = _Net(dropout, nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adamw(lr, weight_decay=wd), wrt=nnx.Param)

        model.train()
        graphdef, state = nnx.split((model, optimizer))

        @jax.jit
        def epoch(state, key):
            order = jax.random.permutation(key, len(x_train))[: steps * BATCH].reshape(steps, BATCH)

            def step(state, idx):
                model, optimizer = nnx.merge(graphdef, state)

                def loss_fn(model):
                    logits = model(x_train[idx])
                    return optax.softmax_cross_entropy_with_integer_labels(
                        logits, y_train[idx]
                    ).mean()

                optimizer.update(model, nnx.grad(loss_fn)(model))
                return nnx.state((model, optimizer)), None

            return jax.lax.scan(step, state, order)[0]

        @jax.jit
        def accuracy(state):
            model, _ = nnx.merge(graphdef, state)
            model.eval()
            return (model(x_val).argmax(-1) == y_val).mean()

        best = 0.0
        for e in range(EPOCHS):
            state = epoch(state, jax.random.key(e))
            best = max(best, float(accuracy(state)))
        return best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=TRIALS)
    return study.best_value


def _timed(fn, *args):
    with CompilationCounter() as counter:
        start = time.perf_counter()
        best = fn(*args)
        seconds = time.perf_counter() - start
    return seconds, counter.count, best


def main() -> dict[str, float]:
    data = digits_split()
    with tempfile.TemporaryDirectory() as tmp:
        hx_s, hx_c, hx_best = _timed(hyperflax_trials, data, tmp)
    hw_s, hw_c, hw_best = _timed(handwritten_trials, data)
    print(f"fixed MLP [{WIDTH}, {WIDTH}], lr/wd/dropout, {TRIALS} trials x {EPOCHS} epochs")
    for name, s, c, best in (
        ("hyperflax", hx_s, hx_c, hx_best),
        ("hand-written", hw_s, hw_c, hw_best),
    ):
        print(
            f"  {name:12s} {s / TRIALS:6.3f} s/trial  {c / TRIALS:5.2f} compilations/trial"
            f"  best val_accuracy {best:.4f}"
        )
    print(f"  hyperflax is {hw_s / hx_s:.1f}x faster per trial")
    return {"hyperflax_s_per_trial": hx_s / TRIALS, "handwritten_s_per_trial": hw_s / TRIALS}


if __name__ == "__main__":
    main()
