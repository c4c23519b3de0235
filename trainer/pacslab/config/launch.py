"""The `launch:` section of a config: where the trainer runs (this machine or a Slurm batch job),
its heartbeat, and the training processes of engine: trl."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pacslab.config.base import Int, Section as _Section


class SlurmConfig(_Section):
    partition: str | None = Field(None, min_length=1, description="`sbatch --partition`; null = the cluster's default partition.")
    nodes: Int = Field(
        1, ge=1, description="`sbatch --nodes`. The native engine trains on one node; engine: trl runs launch.num_processes on each "
        "(srun, one task per node; the job sets launch.num_machines from this)."
    )
    gpus_per_node: Int = Field(0, ge=0, description="`sbatch --gpus-per-node`; 0 asks for no GPU.")
    cpus_per_task: Int | None = Field(None, ge=1, description="`sbatch --cpus-per-task`; null = the cluster's default.")
    mem: str | None = Field(
        None, pattern=r"^\d+[KMGT]?$", description="`sbatch --mem` per node, e.g. `64G`; null = the cluster's default."
    )
    time: str | None = Field(
        None,
        pattern=r"^(\d+-)?\d+(:\d{2}){0,2}$",
        description="`sbatch --time`, the job's time limit: `MM`, `HH:MM:SS` or `D-HH:MM:SS`; null = the partition's.",
    )
    account: str | None = Field(None, min_length=1, description="`sbatch --account` to charge; null = your default.")
    qos: str | None = Field(None, min_length=1, description="`sbatch --qos`; null = the default quality of service.")
    extra_sbatch_args: list[str] = Field(
        [], description="More `sbatch` options, one per item, e.g. `--constraint=a100` (written as `#SBATCH` lines)."
    )
    setup: list[str] = Field(
        [],
        description="Shell lines the job runs before the trainer, e.g. `module load cuda/12.1` or "
        "`source ~/venvs/pacs/bin/activate`.",
    )
    python: str | None = Field(
        None,
        min_length=1,
        description="The Python the job runs the trainer with (after `setup`); null = the interpreter that submits.",
    )


class LaunchConfig(_Section):
    backend: Literal["local", "slurm"] = Field(
        "local",
        description="Where the trainer runs: `local` (a process on this machine) or `slurm` (a batch job "
        "submitted with `sbatch`; see docs/clusters.md).",
    )
    heartbeat_s: Int = Field(
        30,
        ge=1,
        le=3600,
        description="The trainer refreshes run.json (`updated_at`) at least this often, paused too, so a "
        "run on another host whose heartbeat stops is shown lost.",
    )
    num_processes: Int = Field(
        1,
        ge=1,
        description="Training processes per machine (engine: trl): one per GPU, or CPU processes (gloo) without "
        "GPUs. The trainer starts the launcher itself: torchrun on a CPU, `accelerate launch` on GPUs.",
    )
    num_machines: Int = Field(1, ge=1, description="Machines (nodes) taking part in the run (engine: trl).")
    machine_rank: Int = Field(0, ge=0, description="This machine's rank among num_machines (0 writes the run directory).")
    main_process_ip: str | None = Field(
        None, min_length=1, description="Address of machine 0, needed when num_machines > 1; null = this machine."
    )
    main_process_port: Int | None = Field(
        None, ge=1, le=65535, description="Port of the rendezvous on machine 0; null = a free port (one machine)."
    )
    accelerate_config: str | None = Field(
        None,
        min_length=1,
        description="An `accelerate` config file (relative to the config file): the DeepSpeed ZeRO or FSDP "
        "configs TRL ships, or your own; null = plain data parallel (DDP).",
    )
    slurm: SlurmConfig = Field(SlurmConfig(), description="The batch job (backend: slurm).")
