"""`PacsLabCallback`: a TRL GRPOTrainer run written as a PACS Lab run directory, driven from the editor.

    from pacslab.integrations.trl import PacsLabCallback
    trainer.add_callback(PacsLabCallback(trainer, run_dir=".pacs/runs/my-run"))

Rank 0 writes run.json, events.jsonl (the native engine's metric names, TRL's own under `trl/`),
a rollout file per step and `checkpoints/step-N` with `latest`; every rank obeys control.jsonl.
Rank 0 reads the commands and broadcasts them at each step end, and a paused run keeps every
rank in a loop of short broadcasts, so no collective waits longer than one poll (docs/scaling.md).
"""

from __future__ import annotations

import math
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from pacslab import runio
from pacslab.control import POLL_S, ControlReader

KEPT_PREFIXES = ("reward/", "pacs/", "critic/", "eval/", "perf/", "optim/", "policy/", "response/", "grpo/", "rloo/")
RENAMED = {"reward": "reward/mean", "reward_std": "reward/std", "learning_rate": "optim/lr",
           "grad_norm": "optim/grad_norm", "step_time": "perf/step_s", "entropy": "policy/entropy",
           "completions/mean_length": "response/length_mean", "completions/max_length": "response/length_max",
           "completions/clipped_ratio": "response/truncated_frac"}
EXIT_STATUSES = {"stop": "stopped", "suspend": "suspended"}


def metric_names(logs: dict[str, Any], loss_metric: str) -> dict[str, float | None]:
    """TRL's log values under the native engine's names; TRL's loss is `loss_metric` unless the
    trainer logged that itself, and every other TRL value goes under `trl/`."""
    values: dict[str, float | None] = {}
    for key, value in logs.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key == "loss":
            name = "trl/loss" if loss_metric in logs else loss_metric
        elif key in RENAMED:
            name = RENAMED[key]
        elif key.startswith(KEPT_PREFIXES):
            name = key
        else:
            name = f"trl/{key}"
        values[name] = float(value) if math.isfinite(value) else None
    return values


class PacsLabCallback(TrainerCallback):
    """Writes `run_dir` as a PACS Lab run (rank 0) and applies its control commands (every rank).

    `algorithm` and `loss_metric` name the loss in run.json (default: the trainer's `algorithm`
    attribute, else `grpo`); `config` is recorded in the `run_started` event.
    """

    def __init__(self, trainer, run_dir: str | Path, *, algorithm: str | None = None, loss_metric: str | None = None,
                 config: dict | None = None, rollouts_jsonl: bool = False):
        self.trainer = trainer
        self.run_dir = Path(run_dir)
        self.main = trainer.accelerator.is_main_process
        self.algorithm = algorithm or getattr(trainer, "algorithm", "grpo")
        self.loss_metric = loss_metric or f"{self.algorithm}/loss"
        self.config = config
        self.rollouts_jsonl = rollouts_jsonl  # JSONL rollout files instead of Parquet (logging.rollouts_jsonl)
        self.commands = ControlReader(self.run_dir, last_seq=_acknowledged(self.run_dir))
        self.status = "finished"
        self.events: runio.EventLog | None = None
        self.info: runio.RunInfo | None = None

    # ------------------------------------------------------------ run.json and events (rank 0)

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.info = runio.RunInfo(self.run_dir)
        self.events = runio.EventLog(self.run_dir)
        device = str(self.trainer.accelerator.device)
        self.info.update(format=runio.FORMAT_VERSION, id=self.info.get("id") or self.run_dir.name,
                         name=self.info.get("name") or self.run_dir.name, algorithm=self.algorithm,
                         loss_metric=self.loss_metric, engine="trl", world_size=self.trainer.accelerator.num_processes,
                         status="running", step=state.global_step, total_steps=state.max_steps,
                         created_at=self.info.get("created_at") or runio.utc_now(), seed=args.seed,
                         versions=runio.versions(device.split(":")[0]), error=None, **runio.process_fields())
        self.events.emit("run_started", config=self.config or {}, total_steps=state.max_steps)
        self.events.emit("state", status="running")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.main or not logs or any(key.startswith("eval_") for key in logs) or "train_runtime" in logs:
            return
        step = state.global_step
        self.events.emit("metrics", step=step, values=metric_names(logs, self.loss_metric))
        records = self._records(step)
        if records:
            self.events.emit("rollouts", step=step, file=runio.write_rollouts(self.run_dir, step, records, jsonl=self.rollouts_jsonl),
                             count=len(records))
        self.info.update(step=step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """An `eval` event of the values under the native engine's names (`eval/...`, `perf/eval_s`)
        that an evaluation gave, as `PacsGRPOTrainer.evaluate` names them; TRL's own `eval_*` stay out."""
        values = metric_names({k: v for k, v in (metrics or {}).items() if k.startswith(("eval/", "perf/"))}, self.loss_metric)
        if self.main and any(key.startswith("eval/") for key in values):
            self.events.emit("eval", step=state.global_step, values=values)

    def _records(self, step: int) -> list[dict]:
        """The step's samples from the trainer's completion log (rank 0 holds the gathered batch)."""
        logs = getattr(self.trainer, "_logs", None)
        if not logs or not logs["prompt"]:
            return []
        n = self.trainer.num_generations
        rewards = {name: list(values) for name, values in logs["rewards"].items()}
        fields = getattr(self.trainer, "sample_fields", {})
        records = []
        for i, (prompt, completion) in enumerate(zip(logs["prompt"], logs["completion"])):
            reward = sum(values[i] for values in rewards.values() if values[i] is not None)
            record = {"step": step, "group": i // n, "index": i % n, "prompt": _text(prompt),
                      "response": _text(completion), "reward": float(reward),
                      "advantage": float(logs["advantages"][i])}
            record.update({key: values[i] for key, values in logs["extra"].items() if i < len(values)})
            record.update({key: values[i] for key, values in fields.items() if i < len(values)})
            records.append(record)
        return records

    # ------------------------------------------------------------ control (every rank)

    def on_step_end(self, args, state, control, **kwargs):
        for command in self._shared(self.commands.poll() if self.main else None):
            self._apply(command, state, control)
        return control

    def _apply(self, command, state, control) -> None:
        name = command.command
        if name == "pause":
            self._ack(command, "ok")
            self._pause(state, control)
        elif name == "checkpoint":
            control.should_save = True
            self._ack(command, "ok")
        elif name in EXIT_STATUSES:
            control.should_save = control.should_training_stop = True
            self.status = EXIT_STATUSES[name]
            self._ack(command, "ok")
        elif name == "resume":
            self._ack(command, "ignored: not paused")
        else:
            self._ack(command, f"unknown command {name!r}")

    def _pause(self, state, control) -> None:
        self._set_state("paused")
        while True:
            commands = self._shared(self.commands.poll() if self.main else None)
            if not commands:
                time.sleep(POLL_S)
                continue
            for command in commands:
                if command.command == "resume":
                    self._ack(command, "ok")
                elif command.command == "pause":
                    self._ack(command, "ignored: already paused")
                    continue
                else:
                    self._apply(command, state, control)
            if any(c.command in ("resume", *EXIT_STATUSES) for c in commands):
                break
        self._set_state("running")

    def _shared(self, commands):
        """Rank 0's commands on every rank (one broadcast)."""
        if not _distributed():
            return commands
        box = [commands]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _ack(self, command, result: str) -> None:
        if self.main:
            self.events.emit("control_ack", seq=command.seq, command=command.command, result=result)
            self.commands.last_seq = max(self.commands.last_seq, command.seq)

    def _set_state(self, status: str) -> None:
        if self.main:
            self.info.update(status=status)
            self.events.emit("state", status=status)

    # ------------------------------------------------------------ checkpoints

    def on_save(self, args, state, control, **kwargs):
        self.trainer.accelerator.wait_for_everyone()  # every rank's files (rng_state_R.pth) are written
        if self.main:
            step = state.global_step
            source = Path(args.output_dir) / f"checkpoint-{step}"
            rel = runio.write_checkpoint(self.run_dir, step, lambda tmp: _move_into(source, tmp, step))
            self.events.emit("checkpoint", step=step, path=rel)
        self.trainer.accelerator.wait_for_everyone()

    def on_train_end(self, args, state, control, **kwargs):
        if self.main:
            self.info.update(status=self.status, step=state.global_step)
            self.events.emit("state", status=self.status)
            self.events.emit("run_finished", status=self.status)
            self.events.close()

    def fail(self, error: BaseException) -> None:
        """Record `error` as the run's failure (rank 0); for the engine's own entry point."""
        if self.main and self.info is not None:
            message = f"{type(error).__name__}: {error}"
            self.info.update(status="failed", error={"message": message, "traceback": traceback.format_exc()})
            self.events.emit("error", message=message, traceback=traceback.format_exc())
            self.events.emit("run_finished", status="failed")


def _acknowledged(run_dir: Path) -> int:
    """The highest command seq the run's events acknowledge: a resumed run does not redo those."""
    events, _ = runio.read_jsonl(run_dir / runio.EVENTS)
    return max((int(e["seq"]) for e in events if e.get("type") == "control_ack" and isinstance(e.get("seq"), int)),
               default=0)


def _move_into(source: Path, tmp: Path, step: int) -> None:
    for item in source.iterdir():
        shutil.move(str(item), tmp / item.name)
    source.rmdir()
    torch.save({"engine": "trl", "step": step, "host": socket.gethostname()}, tmp / runio.TRAINER_STATE)


def _text(value: Any) -> str:
    """A prompt or completion as text: chat messages are joined by their contents."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in value)
    return str(value)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
