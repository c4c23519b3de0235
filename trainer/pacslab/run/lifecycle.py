"""A run's life on the writing side, each step written once for every engine, the TRL callback,
the CLI and the launchers: where its config comes from (`base_dir_of`), its start
(`prepare_run_dir`, `write_config`) and its end (`end_run`); `EXIT_CONFIG` is the exit code of
`python -m pacslab` when the config, the data or the model does not fit.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pacslab.config import Config, resolved_dict
from pacslab.run import files as runio

EXIT_CONFIG = 2


def base_dir_of(run_dir: Path) -> Path:
    """The folder a run's relative paths (data, model, verifier) resolve against: the folder of the
    config it was started from, recorded in run.json; the run folder itself for an imported run."""
    return Path(runio.RunInfo(run_dir).get("config_dir") or run_dir)


def write_config(cfg: Config, run_dir: Path, base_dir: Path) -> None:
    """config.yaml: the resolved config a resume (and `engine: trl`'s processes) read back."""
    runio.write_atomic(Path(run_dir) / runio.CONFIG, yaml.safe_dump(resolved_dict(cfg, base_dir), sort_keys=False))


def prepare_run_dir(cfg: Config, *, config_path: Path | None, run_dir: Path | None, runs_root: Path,
                    resume: bool, base_dir: Path | None = None) -> Path:
    """The run directory, created when no launcher made it; run.json keeps the launcher's fields.
    What a killed writer left half done is removed (the caller holds the run's lock). run.json
    records this process at once, and with `base_dir` a new run's config.yaml is written here, so
    a run killed from now on reads `crashed` and resumes from step 0."""
    from pacslab import algorithms
    from pacslab.gitinfo import git_info

    if run_dir is None:
        run_dir = runio.create_run_dir(runs_root, cfg.name or "run")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runio.remove_stale_temps(run_dir)
    info = runio.RunInfo(run_dir)
    fields: dict = {}
    if not resume:
        defaults = {"id": run_dir.name, "name": cfg.name, "created_at": runio.utc_now(),
                    "config_path": str(config_path) if config_path else None}
        fields.update({k: v for k, v in defaults.items() if info.get(k) is None})
        if "git" not in info.data and config_path is not None:
            fields["git"] = git_info(Path(config_path).resolve().parent)
    if base_dir is not None and not resume:
        write_config(cfg, run_dir, base_dir)
    info.update(format=runio.FORMAT_VERSION, algorithm=cfg.algorithm,
                loss_metric=algorithms.get(cfg.algorithm).loss_metric, total_steps=cfg.total_steps, seed=cfg.seed,
                error=None, status="starting", **runio.process_fields(), **fields)
    return run_dir


def end_run(info: runio.RunInfo, status: str, *, events: runio.EventLog | None = None, error: str | None = None,
            traceback: str | None = None, reason: str | None = None, step: int | None = None) -> None:
    """Ends a run as `status`, always in this order: run.json (status, error), then with `events`
    an `error` event when there is an error, the `state` event and `run_finished`.

    Without `events` only run.json changes: a launcher's placeholder folder that no trainer wrote
    (no events.jsonl) stays one a corrected retry may use (runio.holds_run)."""
    fields: dict = {"status": status, "error": None if error is None else {"message": error, "traceback": traceback}}
    if step is not None:
        fields["step"] = step
    info.update(**fields)
    if events is None:
        return
    if error is not None:
        events.emit("error", message=error, traceback=traceback)
    state = {"status": status}
    if reason or error:
        state["reason"] = reason or error
    events.emit("state", step=step, **state)
    events.emit("run_finished", status=status)
