"""`PacsLabCallback`: a TRL GRPOTrainer run written as a PACS Lab run directory, driven from the editor.

    from pacslab.integrations.trl import PacsLabCallback
    trainer.add_callback(PacsLabCallback(trainer, run_dir=".pacs/runs/my-run"))

Rank 0 writes run.json, events.jsonl (the native engine's metric names, TRL's own under `trl/`),
a rollout file per step and `checkpoints/step-N` with `latest`; every rank obeys control.jsonl.
Rank 0 reads the commands and broadcasts them at each step end, and a paused run keeps every
rank in a loop of short broadcasts, so no collective waits longer than one poll (docs/scaling.md).
"""

from __future__ import annotations

import shutil
import socket
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from pacslab.config.alerts import AlertsConfig
from pacslab.health.run import RunHealth
from pacslab.health.records import skip_nonfinite_step, step_prompts, step_values
from pacslab.run import files as runio
from pacslab.run.control import POLL_S, ControlReader, obey
from pacslab.run.lifecycle import end_run
from pacslab.run.names import chat_text, metric_names
from pacslab.run.status_words import end_status


class PacsLabCallback(TrainerCallback):
    """Writes `run_dir` as a PACS Lab run (rank 0) and applies its control commands (every rank).

    `algorithm` and `loss_metric` name the loss in run.json (default: the trainer's `algorithm`
    attribute, else `grpo`); `config` is recorded in the `run_started` event; `alerts` is the
    config's `alerts:` section (default: every rule on, docs/diagnostics.md). `audit_verifier` (a
    verifier spec, or a `pacslab.audit.Audit`) checks every recorded sample that carries an `answer`
    a second time, as `task.audit_verifier` does (pacslab/audit.py). `launched`: the processes were
    started by `python -m pacslab train` (engines/trl/launch.py), which stays the run's process in
    run.json and ends the run when a process is gone, knowing which one and how.
    """

    def __init__(self, trainer, run_dir: str | Path, *, algorithm: str | None = None, loss_metric: str | None = None,
                 config: dict | None = None, alerts: AlertsConfig | dict | None = None, audit_verifier=None,
                 audit_timeout_s: float = 10.0, rollouts_jsonl: bool = False, launched: bool = False):
        self.trainer = trainer
        self.run_dir = Path(run_dir)
        self.main = trainer.accelerator.is_main_process
        self.algorithm = algorithm or getattr(trainer, "algorithm", "grpo")
        self.loss_metric = loss_metric or f"{self.algorithm}/loss"
        self.config = config
        self.rollouts_jsonl = rollouts_jsonl  # JSONL rollout files instead of Parquet (logging.rollouts_jsonl)
        self.launched = launched
        self.commands = ControlReader(self.run_dir, last_seq=_acknowledged(self.run_dir),
                                      on_rejected=lambda why: self.events and self.events.emit("log", level="warning", message=why))
        self.status = "finished"
        self.events: runio.EventLog | None = None
        self.info: runio.RunInfo | None = None
        # engine: trl with several optimizer steps per rollout batch: the run's step is TRL's // this
        self.updates = getattr(trainer, "updates_per_step", 1)
        self.alerts = AlertsConfig.model_validate(alerts or {})
        self.health: RunHealth | None = None
        self.skipped = 0  # optimizer steps skipped since the last log (nonfinite gradient)
        self.audit = _audit(audit_verifier, audit_timeout_s) if self.main else None

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
                         status="running", step=state.global_step // self.updates,
                         total_steps=state.max_steps // self.updates,
                         created_at=self.info.get("created_at") or runio.utc_now(), seed=args.seed,
                         versions=runio.versions(device.split(":")[0]), error=None,
                         **({} if self.launched else runio.process_fields()))
        self.events.emit("run_started", config=self.config or {}, total_steps=state.max_steps // self.updates)
        self.events.emit("state", status="running")
        self.health = RunHealth(self.run_dir, self.alerts, self.events, loss_metric=self.loss_metric,
                                after_step=state.global_step // self.updates)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.alerts.nonfinite.enabled and skip_nonfinite_step(self.trainer.model):
            self.skipped += 1

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Rank 0 records the step (metrics, rollouts, ledger, alerts); every rank applies the
        alerts' action (every rank logs at the same steps)."""
        if not logs or any(key.startswith("eval_") for key in logs) or "train_runtime" in logs:
            return
        action = self._record_step(state.global_step // self.updates, logs) if self.main else None
        self.skipped = 0
        self._act(self._shared(action), state, control)

    def _record_step(self, step: int, logs: dict) -> str | None:
        records = self._records(step)
        dropped = getattr(self.trainer, "dropped_prompts", None) or []  # PacsGRPOTrainer's rollout.dynamic_sampling
        measured = {**step_values(records, dropped), "optim/skipped": float(self.skipped)}
        if self.audit is not None and records:
            measured.update(self.audit.check_records(records))
        self.events.emit("metrics", step=step, values={**metric_names(logs, self.loss_metric), **measured})
        if records:
            self.events.emit("rollouts", step=step, file=runio.write_rollouts(self.run_dir, step, records, jsonl=self.rollouts_jsonl),
                             count=len(records))
        self.info.update(step=step)
        return self.health.step(step, {**metric_names(logs, self.loss_metric, finite=False), **measured},
                                step_prompts(records), dropped)

    def _act(self, action: str | None, state, control) -> None:
        """An alert's action: pause here, at the step's end, or checkpoint and stop."""
        if action == "pause":
            self._hold(control)
        elif action == "stop":
            control.should_save = control.should_training_stop = True
            self.status = "stopped"

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """An `eval` event of the values under the native engine's names (`eval/...`, `perf/eval_s`)
        that an evaluation gave, as `PacsGRPOTrainer.evaluate` names them (TRL's own `eval_*` stay
        out), each held-out example's result and the held-out alert rule."""
        values = metric_names({k: v for k, v in (metrics or {}).items() if k.startswith(("eval/", "perf/"))}, self.loss_metric)
        action = None
        if self.main and any(key.startswith("eval/") for key in values):
            step = state.global_step // self.updates
            self.events.emit("eval", step=step, values=values)
            self.health.heldout(step, getattr(self.trainer, "heldout_examples", None) or [])
            action = self.health.evaluation(step, values)
        if any(key.startswith("eval/") for key in values):
            self._act(self._shared(action), state, control)

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
            record = {"step": step, "group": i // n, "index": i % n, "prompt": chat_text(prompt),
                      "response": chat_text(completion), "reward": float(reward),
                      "advantage": float(logs["advantages"][i])}
            record.update({key: values[i] for key, values in logs["extra"].items() if i < len(values)})
            record.update({key: values[i] for key, values in fields.items() if i < len(values)})
            records.append(record)
        return records

    # ------------------------------------------------------------ control (every rank)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.updates:
            return control  # commands are read at the end of a rollout batch (its last optimizer step)
        orders = self._obey(paused=False, control=control)
        if orders.paused and not orders.exit:
            self._hold(control)
        return control

    def _hold(self, control) -> None:
        """Paused (a pause command or an alert): every rank polls the commands until a resume or an exit."""
        self._set_state("paused")
        while True:
            time.sleep(POLL_S)
            orders = self._obey(paused=True, control=control)
            if not orders.paused or orders.exit:
                break
        if not orders.exit:
            self._set_state("running")

    def _obey(self, *, paused: bool, control):
        """The new commands (rank 0's, on every rank) under run/control.py's rule; a checkpoint or
        an exit asks TRL to save at this step's end, an exit to stop after it."""
        orders = obey(self._shared(self.commands.poll() if self.main else None) or [], paused=paused)
        if orders.checkpoint:
            control.should_save = True
        if orders.exit:
            control.should_training_stop = True
            self.status = orders.exit[0]
        for command, result in orders.acks:
            self._ack(command, result)
        return orders

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
            step = state.global_step // self.updates
            source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            rel = runio.write_checkpoint(self.run_dir, step, lambda tmp: _move_into(source, tmp, step))
            self.events.emit("checkpoint", step=step, path=rel)
        self.trainer.accelerator.wait_for_everyone()

    def on_train_end(self, args, state, control, **kwargs):
        if self.main:
            end_run(self.info, self.status, events=self.events, step=state.global_step // self.updates)
            self.events.close()
            if self.health is not None:
                self.health.close()
        if self.audit is not None:
            self.audit.close()

    def fail(self, error: BaseException) -> None:
        """Record `error` as the run's end (rank 0): `failed`, or `crashed` when it says another rank
        is gone (status_words), which a launched run leaves to its launcher: it knows which rank."""
        if self.main and self.info is not None:
            message = f"{type(error).__name__}: {error}"
            status = end_status(error, self.trainer.accelerator.num_processes)
            if status == "crashed" and self.launched:
                return
            if status == "crashed":
                message = f"another training process is gone ({message})"
            end_run(self.info, status, events=self.events, error=message, traceback=traceback.format_exc())


def _audit(spec, timeout_s: float):
    """An Audit for `audit_verifier` (a spec is loaded from the current folder), or None."""
    if spec is None or not isinstance(spec, str):
        return spec
    from pacslab.audit import Audit

    return Audit(spec, base_dir=str(Path.cwd()), timeout_s=timeout_s)


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


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
