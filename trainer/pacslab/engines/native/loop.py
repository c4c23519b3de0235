"""The training loop. One step reads top to bottom in phases:

rollout → verify → old log-probs → updates → critic metrics → log → (eval) → checkpoint → control.

Determinism: every random draw comes from a generator whose state is checkpointed (the prompt
sampler, the sampling generator, the global torch and Python RNGs), evaluation draws from its own
generator seeded by (seed, step), and the no-grad passes use the same micro-batch partition as the
updates. So on a CPU a run suspended after step k and resumed gives bit-identical metrics to one
never interrupted.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from pacslab import algorithms
from pacslab.run import files as runio
from pacslab.run.lifecycle import EXIT_CONFIG, end_run, write_config
from pacslab.config import Config, ConfigError, resolved_dict
from pacslab.engines.native.rollouts import step_rollouts
from pacslab.run.control import POLL_S, ControlReader, Heartbeat, SignalFlag, obey
from pacslab.evaluate import eval_generator, evaluate_sets, one_generator
from pacslab.health.run import RunHealth, step_shares
from pacslab.losses import pacs_bce, pacs_scores, pacs_weights
from pacslab.metrics import critic_metrics
from pacslab.schedule import lr_at
from pacslab.sysmetrics import SystemMonitor
from pacslab.trackers import Trackers
from pacslab.models import has_lora, load_policy, resolve_device, resolve_dtype, resolve_model_path, save_adapter
from pacslab.tasks import PromptSampler, verify_items
from pacslab.verifiers import VerifierInterrupted
from pacslab.engines.native.checkpoint import export_model, load_trainer_state, trainer_state
from pacslab.engines.native.cpu import keep_freed_memory, step_work, tune_cpu_threads
from pacslab.engines.native.inputs import InputError, Inputs, load_inputs
from pacslab.engines.native.records import finite, step_records
from pacslab.engines.native.update import StepData, Updates, make_optimizer

# more than this share of a step's samples with a verifier error gives a warning
VERIFIER_ERROR_WARN_FRAC = 0.5


class RunError(Exception):
    """A failure its message explains fully: the run ends failed with it, without a traceback."""


class StopRun(Exception):
    """Leave the loop with a final status after a checkpoint (stop, suspend, a signal)."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _no_dropout(model: torch.nn.Module) -> None:
    """RL updates run without dropout, so logp at θ_old equals old_logp exactly (ψ = 0 at start)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


class Trainer(Updates):
    def __init__(self, cfg: Config, run_dir: Path, *, base_dir: Path, resume: bool,
                 events: runio.EventLog, info: runio.RunInfo, log: Callable[[str], None] = print,
                 on_step: Callable[[int, str], None] | None = None, inputs: Inputs | None = None):
        self.cfg, self.run_dir, self.base_dir = cfg, Path(run_dir), Path(base_dir)
        self.events, self.info, self.log = events, info, log
        self.on_step = on_step or (lambda _step, line: log(line))
        self.signals = SignalFlag()
        self.device = resolve_device(cfg.device)
        self.algorithm = algorithms.get(cfg.algorithm)
        # fp32 master weights and optimizer state; the forward passes run in compute_dtype (autocast)
        self.compute_dtype = resolve_dtype(cfg.model.dtype, self.device)
        self.n = cfg.rollout.n
        self.step = 0

        inputs = inputs or load_inputs(cfg, self.base_dir)
        checkpoint = runio.latest_checkpoint(self.run_dir) if resume else None
        # killed before its first checkpoint: the config and seed are known, so it starts again from step 0
        self.restarted = resume and checkpoint is None
        base_model = self.base_model = resolve_model_path(cfg.model.path, base_dir=self.base_dir)
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        lora = cfg.model.lora
        # float32 master weights: the forward passes compute in model.dtype under autocast (see _compute)
        if lora is not None and checkpoint is not None:
            self.model, self.tokenizer = load_policy(base_model, device=self.device, dtype="float32", adapter=checkpoint,
                                                     gradient_checkpointing=cfg.model.gradient_checkpointing)
        else:
            self.model, self.tokenizer = load_policy(checkpoint or base_model, device=self.device, dtype="float32",
                                                     gradient_checkpointing=cfg.model.gradient_checkpointing, lora=lora)
        if lora is None:
            _no_dropout(self.model)
        tune_cpu_threads(self.model, self.device, log, step_work(self.model, cfg))
        keep_freed_memory(self.device, log)
        self.ref_model = None
        # with LoRA the reference is the same model with its adapters off: no second copy
        if self.algorithm.needs_reference(cfg) and lora is None:
            self.ref_model, _ = load_policy(base_model, device=self.device, dtype=cfg.model.dtype)
            self.ref_model.requires_grad_(False).eval()

        self.verifier, self.train_examples, self.eval_sets = inputs.verifier, inputs.train_examples, inputs.eval_sets
        self.prompts_too_long = len(inputs.too_long)
        if inputs.too_long:
            e = inputs.too_long[0]
            self.log(f"left out {len(inputs.too_long)} of {len(inputs.too_long) + len(self.train_examples)} training prompts "
                     f"longer than rollout.max_prompt_tokens ({cfg.rollout.max_prompt_tokens} tokens), e.g. {e.where or e.id}")
        self.sampler = PromptSampler(self.train_examples, cfg.rollout.prompts_per_step, cfg.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.optimizer = make_optimizer(self.model, cfg)
        self.control = ControlReader(self.run_dir, on_rejected=lambda why: self.events.emit("log", step=self.step, level="warning", message=why))
        self.verifier.interrupted = self._exit_requested
        self.audit = inputs.audit
        if self.audit is not None:
            self.audit.runner.interrupted = self._exit_requested
        self._saved_seq = -1
        if checkpoint is not None:
            load_trainer_state(self, checkpoint / runio.TRAINER_STATE)
            self._saved_seq = self.control.last_seq
            self.log(f"resumed from {checkpoint.relative_to(self.run_dir)} (step {self.step})")
        if self.restarted:
            self.log("no checkpoint yet: starting again from step 0 with the run's config and seed")
        self.resumed = checkpoint is not None
        self.paused = False
        self.unwritten_rollouts: Callable[[], None] | None = None  # this step's rollouts when rollouts_every skipped them
        self._verified_a_step = False
        self.checkpointed_step: int | None = self.step if self.resumed else None
        self.system = SystemMonitor(cfg.logging.system_every_s, self.device, log)

    def _started_before(self) -> bool:
        """Whether an earlier process of this run logged its start (`run_started`, then the data facts)."""
        return any(e.get("type") == "run_started" for e in runio.read_jsonl(self.run_dir / runio.EVENTS)[0])

    # ------------------------------------------------------------ the loop

    def run(self) -> str:
        cfg = self.cfg
        self.signals.install()
        self.trackers = Trackers(cfg.logging.report_to, self.run_dir, self.run_dir.name, resolved_dict(cfg, self.base_dir))
        self.health = RunHealth(self.run_dir, cfg.alerts, self.events, loss_metric=self.algorithm.loss_metric, log=self.log,
                                after_step=self.step)
        try:
            if self.restarted and self._started_before():
                self._set_status("running", "resumed from step 0: the run had no checkpoint yet")
                self._interruptible(self._evaluate)
            elif not self.resumed:  # a new run, or one killed before it logged its start
                self.events.emit("run_started", config=resolved_dict(cfg, self.base_dir), total_steps=cfg.total_steps)
                self._emit_values("metrics", 0, {"data/train_prompts": float(len(self.train_examples)),
                                                 "data/prompts_too_long": float(self.prompts_too_long)})
                if self.prompts_too_long:
                    self.events.emit("log", step=0, level="warning",
                                     message=f"left out {self.prompts_too_long} training prompts longer than rollout.max_prompt_tokens")
                self._set_status("running", "started")
                self._interruptible(self._evaluate)
            else:
                self._set_status("running", f"resumed from step {self.step}")
            self._handle_control()
            while self.step < cfg.total_steps:
                self.step += 1
                values = {**self._interruptible(self.train_step, self.step), **self.system.sample()}
                self._emit_values("metrics", self.step, values)
                self._act(self.health.step(self.step, values, self.step_prompts, self.dropped_prompts))
                self.info.update(step=self.step)
                self._report(values)
                last = self.step == cfg.total_steps
                if last or (cfg.eval_every and self.step % cfg.eval_every == 0):
                    self._interruptible(self._evaluate)
                if last or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self._checkpoint()
                self._handle_control()
            status, reason = "finished", "completed all steps"
        except StopRun as stop:
            status, reason = stop.status, stop.reason
        finally:
            self.signals.uninstall()
            self.trackers.close()
            self.health.close()
        end_run(self.info, status, events=self.events, reason=reason, step=self.step)
        return status

    def train_step(self, step: int) -> dict[str, float | None]:
        cfg = self.cfg
        t0 = time.perf_counter()
        self.unwritten_rollouts = None  # the previous step's, kept for an alert of its evaluation
        # rollout and verify (rounds of them with rollout.dynamic_sampling)
        examples, batch, verdicts, sampling, dropped, t_rollout = step_rollouts(self)
        verifier_errors = self._check_verdicts(step, verdicts)
        audit, audit_values = (self.audit.check(verify_items(examples, batch.response_texts, batch.prompt_index),
                                                [v.label for v in verdicts]) if self.audit else (None, {}))
        labels = torch.tensor([float(v.label) for v in verdicts], device=self.device)  # [B]
        group_ids = torch.tensor(batch.prompt_index, device=self.device)  # [B]
        # old log-probs: one no-grad pass over π_old (and the frozen reference, when a KL term asks).
        # With one optimizer step per batch the update's first forward runs at θ_old on the same
        # rows, so its detached log-probs are old_logp and the separate pass is skipped.
        fused_old = self._one_update_per_batch()
        minis = self._partition(batch)
        micro = [rows for mini in minis for rows in mini]
        if fused_old:
            old_logp = torch.zeros(batch.response_mask.shape, device=self.device)  # [B, R], filled by the update
            entropy = torch.zeros_like(old_logp)
        else:
            old_logp, entropy = self._logprobs_no_grad(self.model, batch, micro, return_entropy=True)  # [B, R] each
        ref_logp = self._reference_logprobs(batch, micro)
        data = StepData(examples, batch, verdicts, labels, group_ids, old_logp, ref_logp, entropy, fused_old, minis, audit)
        # updates
        t1 = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        update_metrics = self._updates(data)
        t_update = time.perf_counter() - t1
        # critic metrics: ψ_post of every sample, current θ against π_old (every critic_every steps)
        weights = pacs_weights(labels, rollout_n=self.n, weight_mode=cfg.pacs.weight_mode)  # [B]
        post_logp = rhat = psi = None
        critic: dict = {}
        if cfg.logging.critic_every and step % cfg.logging.critic_every == 0:
            post_logp, _ = self._logprobs_no_grad(self.model, batch, micro)  # [B, R]
            rhat, psi = pacs_scores(post_logp, old_logp, batch.response_mask, rollout_n=self.n, beta=cfg.pacs.beta,
                                    reward_method=cfg.pacs.reward_method, adv_estimator=cfg.pacs.adv_estimator,
                                    norm_by_std=cfg.pacs.norm_by_std, group_ids=group_ids)  # [B] each
            critic = critic_metrics(psi, labels, rollout_n=self.n)
            # the PACS loss at ψ_post: how far this step's update moved the critic towards the labels
            # (the loss logged during the update is ln 2 at θ = θ_old whenever there is one update a step)
            critic["critic/bce"] = pacs_bce(psi, labels, weights).item() if torch.isfinite(psi).all() else None
        # log
        self.unwritten_rollouts = lambda: self._write_rollouts(step, data, post_logp, rhat, psi, weights)
        if cfg.logging.rollouts_every and step % cfg.logging.rollouts_every == 0:
            self.unwritten_rollouts()
        step_s = time.perf_counter() - t0
        mask = batch.response_mask.bool()
        lengths = torch.tensor(batch.lengths, dtype=torch.float32)
        correct = [int(c) for c in labels.reshape(-1, self.n).sum(1).tolist()]  # per group
        self.step_prompts = [(e.id, e.data_source, c, self.n) for e, c in zip(examples, correct)]  # the prompt ledger's
        self.dropped_prompts = [(e.id, e.data_source, c, self.n) for e, c in dropped]  # dynamic sampling's, ledgered too
        values = {
            "reward/mean": labels.mean().item(),
            "reward/std": labels.std(unbiased=False).item(),
            **step_shares(self.step_prompts, self.dropped_prompts),
            "verifier/error_frac": verifier_errors,
            **sampling,
            **audit_values,
            **update_metrics,
            **critic,
            "optim/lr": lr_at(cfg, step),
            "policy/entropy": (data.entropy[mask].mean().item() if mask.any() else None),
            "response/length_mean": lengths.mean().item(),
            "response/length_max": lengths.max().item(),
            "response/truncated_frac": sum(batch.truncated) / len(batch.truncated),
            "perf/step_s": step_s,
            "perf/rollout_s": t_rollout,
            "perf/update_s": t_update,
            "perf/samples_per_s": len(batch.lengths) / step_s,
            "perf/tokens_per_s": float(lengths.sum()) / step_s,
        }
        return {k: (None if v is None else finite(v)) for k, v in values.items()}

    # ------------------------------------------------------------ phases

    def _check_verdicts(self, step: int, verdicts: list) -> float:
        """The share of samples whose verification failed; warns when it is most of them, and ends
        the run when every sample of this process's first step failed (the verifier is broken)."""
        errors = [v.error for v in verdicts if v.error is not None]
        frac = len(errors) / max(1, len(verdicts))
        if errors and len(errors) == len(verdicts) and not self._verified_a_step:
            raise RunError(f"the verifier failed on all {len(verdicts)} samples of the first step (first error: "
                           f"{errors[0]}); fix task.verifier ({self.cfg.task.verifier}) and launch again")
        self._verified_a_step = True
        if frac > VERIFIER_ERROR_WARN_FRAC:
            message = (f"the verifier failed on {len(errors)} of {len(verdicts)} samples of step {step} "
                       f"(first error: {errors[0]}); those samples count as wrong")
            self.log(f"warning: {message}")
            self.events.emit("log", step=step, level="warning", message=message)
        return frac

    def _write_rollouts(self, step: int, *args) -> None:
        records = step_records(self.cfg, step, *args)
        self.events.emit("rollouts", step=step, file=runio.write_rollouts(self.run_dir, step, records, jsonl=self.cfg.logging.rollouts_jsonl),
                         count=len(records))
        self.unwritten_rollouts = None

    def _act(self, action: str | None) -> None:
        """An alert's action (health/run.py): pause at this step's end with its rollouts recorded,
        or checkpoint and stop."""
        if action and self.unwritten_rollouts is not None:
            self.unwritten_rollouts()
        if action == "pause" and not self.paused:
            self.paused = True
            self._set_status("paused", "alert")
        elif action == "stop":
            self._checkpoint()
            raise StopRun("stopped", "alert")

    def _evaluate(self) -> None:
        cfg = self.cfg
        t0 = time.perf_counter()
        examples: list[dict] = []
        with self._compute():
            values = evaluate_sets(self.model, self.tokenizer, self.eval_sets, self.verifier,
                                   generators=one_generator(eval_generator(self.device, cfg.seed, self.step)), examples=examples)
        values["perf/eval_s"] = time.perf_counter() - t0
        self._emit_values("eval", self.step, values)
        self.health.heldout(self.step, examples)
        self._act(self.health.evaluation(self.step, values))
        shown = "  ".join(f"{k.removeprefix('eval/')} {v:.3f}" for k, v in values.items() if k.startswith("eval/"))
        self.log(f"eval step {self.step}: {shown}")

    # ------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> None:
        if self.checkpointed_step == self.step and self.control.last_seq == self._saved_seq:
            return
        state = trainer_state(self)

        def save(tmp: Path) -> None:
            if has_lora(self.model):
                save_adapter(self.model, tmp, base=self.base_model)
            else:
                export_model(self.model, tmp, self.compute_dtype)
            self.tokenizer.save_pretrained(tmp)
            torch.save(state, tmp / runio.TRAINER_STATE)

        rel = runio.write_checkpoint(self.run_dir, self.step, save)
        self.checkpointed_step, self._saved_seq = self.step, self.control.last_seq
        self.events.emit("checkpoint", step=self.step, path=rel)
        if self.cfg.checkpoint_keep:
            removed = runio.prune_checkpoints(self.run_dir, self.cfg.checkpoint_keep)
            if removed:
                self.events.emit("log", step=self.step, level="info",
                                 message=f"removed {', '.join(removed)} (checkpoint_keep: {self.cfg.checkpoint_keep})")

    # ------------------------------------------------------------ control

    def _exit_requested(self) -> bool:
        """A signal or a stop/suspend line has arrived (polled while a verifier is busy)."""
        return self.signals.received is not None or self.control.exit_pending()

    def _interruptible(self, phase: Callable, *args):
        """Runs a step or an evaluation; when a stop arrives while its verifier is busy, a step is
        undone (its random state and data position restored, so a resume runs it again exactly)
        and the run stops through the usual checkpoint; an evaluation's values are dropped."""
        mark = self._step_mark() if phase == self.train_step else None
        try:
            return phase(*args)
        except VerifierInterrupted:
            if mark is not None:
                self._rewind(mark)
            self.log("stopping while the verifier was busy")
            self._handle_control()
            raise StopRun("stopped", "stopped while the verifier was busy")  # only reached if the request vanished

    def _step_mark(self) -> dict:
        """The state a step starts from (its number is already counted)."""
        return {"step": self.step - 1, "python": random.getstate(), "torch": torch.get_rng_state(),
                "generator": self.generator.get_state(), "sampler": self.sampler.state_dict()}

    def _rewind(self, mark: dict) -> None:
        self.step = mark["step"]
        random.setstate(mark["python"])
        torch.set_rng_state(mark["torch"])
        self.generator.set_state(mark["generator"])
        self.sampler.load_state_dict(mark["sampler"])

    def _handle_control(self) -> None:
        """Obeys new control.jsonl lines and signals; while paused, waits here polling."""
        while True:
            self._obey(self.control.poll())
            if not self.paused:
                return
            time.sleep(POLL_S)

    def _obey(self, commands) -> None:
        signalled = ("stopped", f"received {self.signals.received}") if self.signals.received else None
        for cmd in commands:
            self.control.last_seq = max(self.control.last_seq, cmd.seq)
        orders = obey(commands, paused=self.paused, exit_as=signalled)
        self.paused = orders.paused
        if orders.checkpoint:
            self._checkpoint()
        if commands and not orders.exit:  # before the acks: whoever sees an ack reads the status it led to
            status = "paused" if self.paused else "running"
            if status != self.info.get("status"):
                self._set_status(status, "control command")
        for cmd, result in orders.acks:
            self.events.emit("control_ack", step=self.step, seq=cmd.seq, command=cmd.command, result=result)
        if orders.exit:
            raise StopRun(*orders.exit)

    def _emit_values(self, kind: str, step: int, values: dict) -> None:
        """A `metrics` or `eval` event, also sent to the trackers of logging.report_to."""
        self.events.emit(kind, step=step, values=values)
        self.trackers.log(step, values)

    def _set_status(self, status: str, reason: str) -> None:
        self.info.update(status=status, step=self.step)
        self.events.emit("state", step=self.step, status=status, reason=reason)

    def _report(self, values: dict) -> None:
        def show(key, fmt="{:.3f}"):
            v = values.get(key)
            return "-" if v is None else fmt.format(v)

        # the critic's BCE after the update: the loss logged during a single update is taken at θ_old,
        # where it says nothing (PACS: always ln 2)
        self.on_step(self.step, f"step {self.step}/{self.cfg.total_steps}  reward {show('reward/mean')}  bce {show('critic/bce', '{:.4f}')}  "
                 f"auc {show('critic/auc')}  grad {show('optim/grad_norm')}  {show('perf/step_s', '{:.2f}')} s")


# ---------------------------------------------------------------- entry point


def run_training(cfg: Config, run_dir: Path, *, base_dir: Path, resume: bool = False,
                 log: Callable[[str], None] = print, on_step: Callable[[int, str], None] | None = None,
                 inputs: Inputs | None = None) -> int:
    """Trains, recording everything in `run_dir`. Returns the process exit code: 0, 1 on failure,
    2 when the data, the model or the verifier does not fit the config (`inputs`, when given, are
    the caller's to close)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    run_dir = Path(run_dir)
    info = runio.RunInfo(run_dir)
    events = runio.EventLog(run_dir)
    owned = None
    try:
        if inputs is None:
            inputs = owned = load_inputs(cfg, base_dir)
        device = resolve_device(cfg.device)
        info.update(status="starting", config_dir=str(base_dir), versions=runio.versions(str(device)),
                    **runio.process_fields())
        if not resume and not runio.is_regular_file(run_dir / runio.CONFIG):
            write_config(cfg, run_dir, base_dir)
        with Heartbeat(info, cfg.launch.heartbeat_s):
            trainer = Trainer(cfg, run_dir, base_dir=base_dir, resume=resume, events=events, info=info, log=log,
                              on_step=on_step, inputs=inputs)
            status = trainer.run()
        log(f"run {status}: {run_dir}")
        return 0
    except ConfigError as exc:  # the data or the model does not fit the config: exit 2 as for a config error
        if exc.file is None and info.get("config_path"):
            exc = ConfigError(info.get("config_path"), exc.issues)
        end_run(info, "failed", events=events, error=f"config error: {exc}")
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        end_run(info, "stopped", events=events, reason="interrupted twice: exited without a checkpoint")
        return 130
    except (RunError, InputError) as exc:
        message = f"{'input error: ' if isinstance(exc, InputError) else ''}{exc}"
        end_run(info, "failed", events=events, error=message)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, InputError) else 1
    except Exception as exc:  # noqa: BLE001 - any failure must end as status failed, with its traceback
        tb = traceback.format_exc()
        end_run(info, "failed", events=events, error=f"{type(exc).__name__}: {exc}", traceback=tb)
        print(tb, file=sys.stderr)
        return 1
    finally:
        if owned is not None:
            owned.close()
        events.close()
