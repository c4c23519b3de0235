"""Sweeps: seeds × hyper-parameters of a config, suggested and pruned by Optuna (docs/sweeps.md).

- `space`: the sweep's checks against the config, the search space, `*.sweep.yaml` files;
- `store`: the sweep folder `.pacs/sweeps/<id>/` (sweep.json, trials.json, control.jsonl, Optuna's journal);
- `runs`: one trial's run: launched as an ordinary run, its events read for the metric;
- `controller`: the detached process that asks Optuna for trials, runs them and prunes them;
- `slurm`: the Slurm backend, one job array;
- `cli`: `python -m pacslab sweep`.
"""
