"""Launchers: where a run's trainer process runs when it is not this process (docs/clusters.md).

One module per backend; `launch.backend: local` needs none (the trainer runs in-process, or the
extension spawns it). `slurm` submits a batch job that runs `python -m pacslab train --here`.
"""
