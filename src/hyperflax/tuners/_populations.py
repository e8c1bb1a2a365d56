"""Runners whose trials train together: populations scheduled over claimed trials.

Imports the trainers (and Flax); a tuner loads it only for a model search.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Hashable
from typing import Any

import jax

from hyperflax.search_spaces import HyperParameters
from hyperflax.trainers import Member, MemberResult, program_key, train_population
from hyperflax.tuners._runner import Runner, TrialContext, TrialOutput


class PopulationRunner(Runner):
    """A runner whose trials can be members of a population (``population_size > 1``).

    A subclass says how a claimed trial becomes a :class:`~hyperflax.trainers.Member` (or runs
    at once, when it trains nothing a population can share), what data its population trains
    on, and how a finished member becomes the trial's output; the scheduling is here. Trials
    whose models share a compiled program (:func:`~hyperflax.trainers.program_key`) train
    together; a claimed trial of another program waits (at most ``size`` of them) and starts
    the next population; a free slot takes a waiting trial of its program first, then a newly
    claimed one.

    Example:
        >>> class MyRunner(PopulationRunner):  # doctest: +SKIP
        ...     def start_member(self, hp, context):
        ...         return Member(make_trainer(hp), epochs=10, tag=context)
        ...     def population_data(self, member):
        ...         return {"x": x, "y": y, "batch_size": 32}
        ...     def complete_member(self, result):
        ...         return TrialOutput(result.history.history["loss"][-1])
    """

    @abc.abstractmethod
    def start_member(self, hp: HyperParameters, context: TrialContext) -> Member | TrialOutput:
        """The trial as a population member, or its output when it ran at once."""

    @abc.abstractmethod
    def population_data(self, member: Member) -> dict[str, Any]:
        """The data arguments of ``train_population`` for the population ``member`` starts."""

    @abc.abstractmethod
    def complete_member(self, result: MemberResult) -> TrialOutput:
        """The output of a member that ended without error (raise to fail the trial)."""

    @staticmethod
    def context_of(member: Member) -> TrialContext:
        """The trial a member trains (the first item of its ``tag``)."""
        context = member.tag[0] if isinstance(member.tag, tuple) else member.tag
        assert isinstance(context, TrialContext)
        return context

    #: ``population_size="auto"`` on an accelerator, when memory allows.
    AUTO_SIZE = 16

    def member_bytes(self) -> int | None:
        """An estimate of one member's device memory, or ``None`` when unknown."""
        return None

    def auto_population_size(self) -> int:
        """The size ``"auto"`` stands for: 1 on a CPU, up to 16 on an accelerator.

        On a CPU bench/population.py measured no gain. On an accelerator it is 16, or fewer
        when :meth:`member_bytes` says 16 would not fit in half of the free device memory.
        """
        if jax.default_backend() == "cpu":
            return 1
        stats = jax.local_devices()[0].memory_stats() or {}
        free = stats.get("bytes_limit", 0) - stats.get("bytes_in_use", 0)
        per_member = self.member_bytes()
        if not per_member or free <= 0:
            return self.AUTO_SIZE
        return max(1, min(self.AUTO_SIZE, int(0.5 * free // per_member)))

    def population_error(self) -> str | None:
        """Populations are what this runner is for."""
        return None

    def run_population(
        self,
        claim: Callable[[], tuple[HyperParameters, TrialContext] | None],
        finish: Callable[[TrialContext, TrialOutput | Exception], None],
        *,
        size: int,
    ) -> None:
        """Train claimed trials ``size`` at a time, one population per compiled program."""
        waiting: dict[Hashable, list[Member]] = {}

        def start(item: tuple[HyperParameters, TrialContext]) -> Member | None:
            hp, context = item
            try:
                started = self.start_member(hp, context)
            except Exception as error:  # a build error ends this trial only
                finish(context, error)
                return None
            if isinstance(started, TrialOutput):
                finish(context, started)
                return None
            return started

        def next_member(key: Hashable) -> Member | None:
            if waiting.get(key):
                return waiting[key].pop(0)
            while sum(map(len, waiting.values())) < size:
                item = claim()
                if item is None:
                    return None
                member = start(item)
                if member is None:
                    continue
                member_key = program_key(member.trainer)
                if member_key == key:
                    return member
                waiting.setdefault(member_key, []).append(member)
            return None

        while True:
            if waiting:
                key = max(waiting, key=lambda k: len(waiting[k]))
            else:
                item = claim()
                if item is None:
                    return
                member = start(item)
                if member is None:
                    continue
                key = program_key(member.trainer)
                waiting[key] = [member]
            data = self.population_data(waiting[key][0])
            results = train_population(functools.partial(next_member, key), size=size, **data)
            for result in results:
                outcome: TrialOutput | Exception
                if result.error is not None:
                    outcome = result.error
                else:
                    try:
                        outcome = self.complete_member(result)
                    except Exception as error:
                        outcome = error
                finish(self.context_of(result.member), outcome)
            waiting = {k: v for k, v in waiting.items() if v}
