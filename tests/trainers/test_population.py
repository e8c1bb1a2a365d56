import numpy as np
import optax
import pytest
from flax import nnx

from hyperflax.models import MLP
from hyperflax.trainers import (
    CompilationCounter,
    EarlyStopping,
    Member,
    NonFiniteLossError,
    Trainer,
    model_arrays,
    program_key,
    train_population,
)

# (width, depth, dropout, learning rate): one architecture space (capacity 64 x 4)
CONFIGS = [(16, 1, 0.0, 1e-2), (64, 3, 0.2, 3e-3), (32, 2, 0.1, 2e-2), (48, 4, 0.3, 5e-3)]


def _trainer(width: int, depth: int, dropout: float, lr: float, seed: int = 0) -> Trainer:
    model = MLP(
        64, 10, [width] * depth, dropout=dropout, max_width=64, max_depth=4, rngs=nnx.Rngs(seed)
    )
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=1e-4)
    return Trainer(model, optimizer, "cross_entropy", ["accuracy"], seed=seed)


def _fit_alone(config: tuple, digits, epochs: int = 4, **kwargs) -> tuple[Trainer, dict]:
    x, y = digits
    trainer = _trainer(*config)
    history = trainer.fit(
        x[:240], y[:240], validation_data=(x[240:], y[240:]), epochs=epochs, batch_size=32,
        **kwargs,
    )  # fmt: skip
    return trainer, history.history


def _population(members, digits, size=None):
    x, y = digits
    results = train_population(
        members, x[:240], y[:240], validation_data=(x[240:], y[240:]), batch_size=32, size=size
    )
    return {id(r.member): r for r in results}


def _assert_same_curves(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=2e-4, atol=2e-5, err_msg=name)


def test_each_member_gets_the_curve_it_gets_alone(digits):
    members = [Member(_trainer(*config), epochs=4) for config in CONFIGS]
    results = _population(members, digits)
    for config, member in zip(CONFIGS, members, strict=True):
        alone, history = _fit_alone(config, digits)
        result = results[id(member)]
        assert result.error is None
        assert result.history.epochs == [0, 1, 2, 3]
        _assert_same_curves(result.history.history, history)
        trained, reference = model_arrays(member.trainer.model), model_arrays(alone.model)
        for name, value in reference.items():
            np.testing.assert_allclose(trained[name], value, rtol=1e-3, atol=1e-4, err_msg=name)
        assert member.trainer.epoch == 4


def test_a_diverging_member_fails_alone(digits):
    members = [Member(_trainer(*config), epochs=3) for config in CONFIGS[:2]]
    exploding = Member(_trainer(16, 1, 0.0, 1e9), epochs=3)
    results = _population([members[0], exploding, members[1]], digits)
    assert isinstance(results[id(exploding)].error, NonFiniteLossError)
    for config, member in zip(CONFIGS, members, strict=False):
        assert results[id(member)].error is None
        _assert_same_curves(results[id(member)].history.history, _fit_alone(config, digits, 3)[1])


def test_a_member_stopped_early_keeps_its_own_state(digits):
    stop = EarlyStopping("val_loss", patience=0, restore_best=False)
    stopped = Member(_trainer(*CONFIGS[2]), epochs=8, callbacks=[stop])
    other = Member(_trainer(*CONFIGS[0]), epochs=8)
    results = _population([stopped, other], digits)
    alone, history = _fit_alone(
        CONFIGS[2], digits, 8, callbacks=[EarlyStopping("val_loss", patience=0, restore_best=False)]
    )
    assert len(history["loss"]) < 8, "the reference run must stop early for this test to bite"
    _assert_same_curves(results[id(stopped)].history.history, history)
    assert stopped.trainer.epoch == alone.epoch
    assert results[id(other)].history.epochs == list(range(8))


def test_a_raising_callback_ends_its_member_only(digits):
    class Boom(EarlyStopping):
        def on_epoch_end(self, epoch, logs, trainer):
            if epoch == 1:
                raise RuntimeError("boom")

    failing = Member(_trainer(*CONFIGS[0]), epochs=4, callbacks=[Boom()])
    other = Member(_trainer(*CONFIGS[1]), epochs=4)
    results = _population([failing, other], digits)
    assert str(results[id(failing)].error) == "boom"
    assert results[id(failing)].history.epochs == [0, 1]
    assert results[id(other)].error is None and results[id(other)].history.epochs == [0, 1, 2, 3]


def test_free_slots_take_the_next_members_without_recompiling(digits):
    # members with different epoch counts leave at different times; later ones take their slot
    def member(i: int) -> Member:
        return Member(_trainer(*CONFIGS[i % 4]), epochs=1 + i % 3)

    _population([member(i) for i in range(4)], digits, size=3)  # compile every program once
    members = [member(i) for i in range(7)]
    with CompilationCounter() as counter:
        results = _population(members, digits, size=3)
    assert counter.count == 0
    assert [len(results[id(m)].history.epochs) for m in members] == [1, 2, 3, 1, 2, 3, 1]
    alone = _fit_alone(CONFIGS[2 % 4], digits, 3)[1]
    _assert_same_curves(results[id(members[2])].history.history, alone)
    alone = _fit_alone(CONFIGS[2], digits, 1)[1]
    _assert_same_curves(results[id(members[6])].history.history, alone)


def test_a_continued_member_trains_its_remaining_epochs(digits, tmp_path):
    x, y = digits
    first = _trainer(*CONFIGS[1])
    first.fit(x[:240], y[:240], epochs=2, batch_size=32)
    first.save_checkpoint(tmp_path / "state.npz")
    continued = _trainer(*CONFIGS[1])
    continued.load_checkpoint(tmp_path / "state.npz")
    result = _population([Member(continued, epochs=4)], digits)
    reference = _trainer(*CONFIGS[1])
    reference.load_checkpoint(tmp_path / "state.npz")
    history = reference.fit(
        x[:240], y[:240], validation_data=(x[240:], y[240:]), epochs=4, initial_epoch=2,
        batch_size=32,
    )  # fmt: skip
    (only,) = result.values()
    assert only.history.epochs == [2, 3]
    _assert_same_curves(only.history.history, history.history)


def test_members_of_another_architecture_are_refused(digits):
    other = Trainer(
        MLP(64, 10, [8], max_width=8, rngs=nnx.Rngs(0)),
        optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3),
        "cross_entropy",
        ["accuracy"],
    )
    assert program_key(other) != program_key(_trainer(*CONFIGS[0]))
    with pytest.raises(ValueError, match="program_key"):
        _population([Member(_trainer(*CONFIGS[0]), 2), Member(other, 2)], digits)


def test_size_is_checked(digits):
    with pytest.raises(ValueError, match="`size` must be an int >= 1"):
        _population(lambda: None, digits)


def test_members_on_their_own_folds_of_one_table_train_as_if_alone(digits):
    """k-fold bagging's layout: one x, each member its training rows and validation rows."""
    x, y = digits[0][:300], digits[1][:300]
    folds = np.array_split(np.random.default_rng(0).permutation(300), 3)
    config = CONFIGS[1]
    members = []
    for k, validation in enumerate(folds):
        train = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != k]))
        members.append(Member(_trainer(*config, seed=k), epochs=3, rows=train,
                              validation_rows=np.sort(validation)))  # fmt: skip
    results = {id(r.member): r for r in train_population(members, x, y, batch_size=32)}
    for k, member in enumerate(members):
        alone = _trainer(*config, seed=k)
        history = alone.fit(
            x[member.rows], y[member.rows], epochs=3, batch_size=32,
            validation_data=(x[member.validation_rows], y[member.validation_rows]),
        )  # fmt: skip
        _assert_same_curves(results[id(member)].history.history, history.history)
    again = [Member(_trainer(*config, seed=9), 2, rows=m.rows, validation_rows=m.validation_rows)
             for m in members]  # fmt: skip
    with CompilationCounter() as counter:  # the next candidate's folds: nothing new to compile
        assert all(r.error is None for r in train_population(again, x, y, batch_size=32))
    assert counter.count == 0
    uneven = Member(_trainer(*config), epochs=1, rows=np.arange(150), validation_rows=folds[0])
    with pytest.raises(ValueError, match="must train on 200 rows"):
        list(train_population([members[0], uneven], x, y, batch_size=32))
