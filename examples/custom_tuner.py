"""Write your own tuner: screen many configurations briefly, then continue the best ones.

A tuner overrides ``next_trial`` (and, if it likes, ``make_sampler``); the trial loop,
failures, resume, tracking and results come from ``hx.tuners.Tuner``. This one is a
two-stage successive halving: ``screen`` random configurations train ``short`` epochs, then
the best ``keep`` of them continue from where they stopped up to ``long`` epochs.
"""

from collections.abc import Sequence

from optuna.trial import FrozenTrial

import hyperflax as hx


class TwoStage(hx.tuners.Tuner):
    """Screen ``screen`` configurations for ``short`` epochs; continue the best ``keep``."""

    default_max_trials = None  # the plan decides when the search ends
    plans_epochs = True  # every plan gives its epochs, so search() needs no epochs=

    def __init__(self, hypermodel, *, screen=8, keep=2, short=3, long=9, **options):
        self.screen, self.keep, self.short, self.long = screen, keep, short, long
        super().__init__(hypermodel, **options)

    def next_trial(self, trials: Sequence[FrozenTrial]) -> hx.tuners.TrialPlan | None:
        stage = {t.number: hx.tuners.TrialPlan.of(t) for t in trials}
        screened = [t for t in trials if stage[t.number].tags.get("stage") == "screen"]
        if len(screened) < self.screen:  # stage 1: the sampler picks, keep state to continue
            return hx.tuners.TrialPlan(epochs=self.short, keep_state=True, tags={"stage": "screen"})
        continued = {plan.continues for plan in stage.values()}
        done = [t for t in screened if t.state.name == "COMPLETE"]
        for best in self.objective.rank(done)[: self.keep]:  # stage 2: the same params, longer
            if best.number not in continued:
                return hx.tuners.TrialPlan(
                    params=best.params,
                    epochs=self.long,
                    continues=best.number,
                    tags={"stage": "final"},
                )
        return None


def curve(hp: hx.HyperParameters) -> float:
    """A learning curve: the loss falls with the epochs, lowest for lr near 1e-2."""
    lr = hp.Float("lr", 1e-4, 1.0, log=True)
    width = hp.Choice("width", [16, 64, 256])
    floor = abs(lr - 1e-2) * 10 + 16 / width
    for epoch in range(100):
        hp.report(floor + 1.0 / (epoch + 1), step=epoch)  # the plan's budget stops it
    return floor


if __name__ == "__main__":
    tuner = TwoStage(curve, objective="loss", seed=0, tracker=None, project_name="two-stage")
    tuner.search()
    tuner.results_summary(3)
    print(tuner.trials_dataframe()[["number", "budget", "loss", "params_lr", "params_width"]])
