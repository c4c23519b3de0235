"""Reporting to experiment trackers (`logging.report_to`): every step's metrics and every
evaluation also go to TensorBoard (event files in `<run>/tensorboard/`), W&B (offline in
`<run>/wandb/` unless WANDB_MODE says otherwise) and MLflow (a file store in `<run>/mlruns/`
unless MLFLOW_TRACKING_URI names another), each through its library's own API. Each library is
an optional extra: `pip install 'pacslab[tensorboard]'` (or wandb, mlflow)."""

from __future__ import annotations

import os
from pathlib import Path


class _TensorBoard:
    def __init__(self, run_dir: Path, run_id: str, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _Wandb:
    def __init__(self, run_dir: Path, run_id: str, config: dict):
        import wandb

        self.run = wandb.init(dir=str(run_dir), id=run_id, name=run_id, config=config, resume="allow",
                              mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, step: int, values: dict[str, float]) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


class _Mlflow:
    def __init__(self, run_dir: Path, run_id: str, config: dict):
        import mlflow

        self.mlflow = mlflow
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            # MLflow 3 keeps its file store in maintenance mode behind this opt-in; it is still the
            # one store that needs no server and no database package
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (run_dir / "mlruns").resolve().as_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("pacslab")
        self.run = mlflow.start_run(run_name=run_id)
        mlflow.log_params(_flat(config))

    def log(self, step: int, values: dict[str, float]) -> None:
        # MLflow metric names allow letters, digits, _ - . / and space: `pass@k` becomes `pass_at_k`
        self.mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in values.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


BACKENDS = {"tensorboard": _TensorBoard, "wandb": _Wandb, "mlflow": _Mlflow}


def _flat(config: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)[:500]
    return flat


class Trackers:
    """The trackers of `logging.report_to`, fed the same values as events.jsonl."""

    def __init__(self, names: list[str], run_dir: Path, run_id: str, config: dict):
        # config checks made sure each package is installed (pacslab/config/checks.py)
        self.backends = [BACKENDS[name](Path(run_dir), run_id, config) for name in names]

    def log(self, step: int, values: dict[str, float | None]) -> None:
        known = {k: float(v) for k, v in values.items() if v is not None}
        for backend in self.backends:
            backend.log(step, known)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends = []
