"""The sweep's Optuna study: sampler, pruner, storage, and the words for why a trial was pruned."""

from __future__ import annotations

import statistics
import warnings
from pathlib import Path

from pacslab.config.sweep import SweepConfig
from pacslab.sweep.store import IMPORTANCE, SweepDir
from pacslab.run import files as runio


def sampler(spec: SweepConfig):
    import optuna

    if spec.method == "grid" and spec.parameters:
        return optuna.samplers.GridSampler(dict(spec.parameters), seed=spec.sampler_seed)
    if spec.method in ("random", "grid"):  # a grid of seeds alone: one trial, no parameter
        return optuna.samplers.RandomSampler(seed=spec.sampler_seed)
    return optuna.samplers.TPESampler(seed=spec.sampler_seed, n_startup_trials=min(10, max(2, (spec.max_runs or 10) // 3)))


def pruner(spec: SweepConfig):
    import optuna

    if spec.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup_trials, n_warmup_steps=spec.prune_warmup_steps)
    if spec.prune == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_early_stopping_rate=0)
    return optuna.pruners.NopPruner()


def open_study(sd: SweepDir, spec: SweepConfig):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if spec.metric.goal == "maximize" else "minimize"
    return optuna.create_study(study_name=sd.id, storage=sd.storage(), sampler=sampler(spec), pruner=pruner(spec),
                               direction=direction, load_if_exists=True)


def complete_params(study, frozen, dists: dict) -> dict:
    """A trial's parameters, every one of them. Optuna writes a trial's parameters after it creates the
    trial, so a controller killed between the two leaves a RUNNING trial with some or none: the missing
    ones are asked of the study's sampler now, through the trial's own suggest calls (GridSampler answers
    from the grid point it gave the trial; a trial killed before even that gets the next unvisited one)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    missing = {name: d for name, d in dists.items() if name not in frozen.params}
    if not missing:
        return dict(frozen.params)
    study.sampler.before_trial(study, frozen)  # a no-op when the trial already has its grid point
    trial = optuna.trial.Trial(study, frozen._trial_id)
    for name, d in missing.items():
        if isinstance(d, CategoricalDistribution):
            trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        else:
            trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return dict(trial.params)


def prune_reason(study, number: int, step: int, value: float, spec: SweepConfig) -> str:
    """Why Optuna's pruner stopped the trial, in the pruner's own terms."""
    from optuna.trial import TrialState

    others = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
              if t.number != number and step in t.intermediate_values]
    name = spec.metric.name
    if spec.prune == "median" and others:
        side = "below" if spec.metric.goal == "maximize" else "above"
        return (f"{name} {value:.4g} at step {step} is {side} the median {statistics.median(others):.4g} of "
                f"{len(others)} earlier trial(s) at that step (median pruner)")
    return f"{name} {value:.4g} at step {step} is not among the best trials at that rung (successive halving pruner)"


def write_importance(sd: SweepDir, study) -> dict:
    """importance.json: Optuna's parameter importance (fANOVA) over the finished trials, or why there is none."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    varied = {k for t in done for k in t.params if len({repr(u.params.get(k)) for u in done}) > 1}
    doc: dict = {"trials": len(done), "importance": None, "reason": None, "updated_at": runio.utc_now(),
                 "evaluator": "optuna.importance.get_param_importances (default evaluator)"}
    if len(done) < 2 or not varied:
        doc["reason"] = "needs two or more finished trials with different parameters"
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                doc["importance"] = {k: float(v) for k, v in get_param_importances(study, params=sorted(varied)).items()}
        except (RuntimeError, ValueError) as exc:
            doc["reason"] = str(exc)
    runio.write_json_atomic(Path(sd.path) / IMPORTANCE, doc)
    return doc
