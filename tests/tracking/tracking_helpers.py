"""Real Optuna studies with finished trials, and a tracker driven as a tuner drives it."""

import pathlib

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hyperflax.tracking import Tracker

SPACE = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "units": IntDistribution(8, 64)}
CONFIG = {"tuner": "RandomSearch", "objective": "val_accuracy", "direction": "maximize", "seed": 0}


def make_study(name="demo", storage=None):
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        load_if_exists=True,
    )


def finish(study, state=TrialState.COMPLETE, epochs=3):
    """Run one trial to ``state``; returns (FrozenTrial, history) as a tuner hands them over."""
    trial = study.ask(SPACE)
    history = {"epoch": list(range(1, epochs + 1)), "loss": [], "val_accuracy": []}
    for epoch in history["epoch"]:
        history["loss"].append(1.0 / epoch)
        history["val_accuracy"].append(0.5 + 0.1 * epoch)
        trial.report(history["val_accuracy"][-1], epoch)
    trial.set_user_attr("hx:devices", "cpu:0")
    trial.set_user_attr("hx:plan", {"epochs": 3})
    if state == TrialState.COMPLETE:
        trial.set_user_attr("hx:metrics", {"val_accuracy": history["val_accuracy"][-1]})
        frozen = study.tell(trial, history["val_accuracy"][-1])
    elif state == TrialState.FAIL:
        trial.set_user_attr("hx:error", "ValueError: boom")
        frozen = study.tell(trial, state=TrialState.FAIL)
    else:
        frozen = study.tell(trial, state=state)
    return frozen, history


def track(tracker: Tracker, study, project_dir: pathlib.Path, trials, best_model_dir=None):
    """Drive ``tracker`` through one search over already-finished ``trials``."""
    tracker.on_search_begin(study, project_dir=project_dir, config=CONFIG)
    for frozen, history in trials:
        tracker.on_trial_end(study, frozen, history)
    results = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    tracker.on_search_end(study, results=results, best_model_dir=best_model_dir)
    return results
