"""The `sweep:` section of a config (or a `*.sweep.yaml` naming a base config): the parameters,
seeds, method, metric, pruning and backend of a sweep (docs/sweeps.md). The checks that need the
rest of the config (a parameter key that exists, a range on a number) are in pacslab.sweep.space."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from pacslab.config.base import Float, Int, Section as _Section

Scalar = Union[bool, Int, Float, str, None]


class SweepRange(_Section):
    low: Float = Field(..., description="Smallest value (an integer key samples integers).")
    high: Float = Field(..., description="Largest value (included).")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    step: Float | None = Field(None, gt=0, description="Sample only low, low + step, ... (not with log); null = any value.")


class SweepMetric(_Section):
    name: str = Field("eval/accuracy", min_length=1, max_length=200,
                      description="The metric a trial is judged by: an `eval` value (`eval/accuracy`, `eval/<set>/pass@k`) "
                      "or a training metric (`reward/mean`).")
    goal: Literal["maximize", "minimize"] = Field("maximize", description="Whether a higher or a lower value is better.")
    at: Literal["last", "best"] = Field("last", description="A run's value: the metric at its last evaluation, or its best one.")


class SweepConfig(_Section):
    parameters: dict[str, Union[list[Scalar], SweepRange]] = Field(
        {},
        description="Config keys to vary, dotted (`optim.lr`, `pacs.beta`): a list of values (a grid, or the choices of "
        "random and tpe) or a range `{low, high, log, step}` of a number key (random and tpe only).",
    )
    set: dict[str, Union[Scalar, list[Scalar]]] = Field(
        {},
        description="Config keys every trial sets, dotted, as `--set` does (`{total_steps: 60}`); the base config "
        "file is left as it is.",
    )
    seeds: list[Int] = Field([],
                             description="Seeds each trial runs with (one run each; the trial's value is their mean); "
                             "[] = the config's seed alone.")
    method: Literal["grid", "random", "tpe"] = Field(
        "grid", description="How trials are chosen (Optuna's samplers): every combination of the lists (`grid`), "
        "`random`, or `tpe` (Tree-structured Parzen Estimator, learning from finished trials).")
    metric: SweepMetric = Field(SweepMetric(), description="What a trial is judged by.")
    max_runs: Int | None = Field(None, ge=1, description="Most runs (trials × seeds); required for random and tpe; "
                                 "null = the whole grid.")
    parallel: Int = Field(1, ge=1, le=1024, description="Runs at once (on a machine with several GPUs, one GPU each; "
                          "on Slurm, the `%N` of the job array).")
    prune: Literal["none", "median", "successive_halving"] = Field(
        "none", description="Stop unpromising trials at their evaluations (Optuna's MedianPruner or "
        "SuccessiveHalvingPruner); a pruned trial's runs stop with a checkpoint.")
    prune_startup_trials: Int = Field(2, ge=0, description="Trials that finish before `median` prunes any.")
    prune_warmup_steps: Int = Field(0, ge=0, description="Steps of a trial before it can be pruned.")
    sampler_seed: Int = Field(0, description="Seed of the random and tpe samplers.")
    backend: Literal["local", "slurm"] = Field(
        "local", description="Where the runs go: processes on this machine (`local`), or one Slurm job array "
        "(`slurm`, `--array=0-N%parallel`, with the config's launch.slurm options).")
