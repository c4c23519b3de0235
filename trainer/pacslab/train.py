"""The training loop. One step reads top to bottom in phases:

rollout → verify → old log-probs → updates → critic metrics → log → (eval) → checkpoint → control.

Determinism: every random draw comes from a generator whose state is checkpointed (the prompt
sampler, the sampling generator, the global torch and Python RNGs), evaluation draws from its own
generator seeded by (seed, step), and the no-grad passes use the same micro-batch partition as the
updates. So on a CPU a run suspended after step k and resumed gives bit-identical metrics to one
never interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import yaml

from pacslab import algorithms, runio
from pacslab.algorithms import LossInput
from pacslab.config import Config, ConfigError, resolved_dict
from pacslab.control import COMMANDS, POLL_S, ControlReader, Heartbeat, SignalFlag
from pacslab.evaluate import encoded, eval_generator, evaluate_sets, load_eval_sets
from pacslab.losses import pacs_bce, pacs_scores, pacs_weights
from pacslab.metrics import critic_metrics
from pacslab.sysmetrics import SystemMonitor
from pacslab.trackers import Trackers
from pacslab.models import (can_share_prompts, grouped_sequence_logprobs, has_lora, load_policy, load_tokenizer,
                            resolve_device, resolve_dtype, resolve_model_path, save_adapter, sequence_logprobs,
                            set_adapters, set_training)
from pacslab.rollout import RolloutBatch, generate_rollouts
from pacslab.tasks import DataError, Example, PromptSampler, drop_long_prompts, encode_examples, load_examples
from pacslab.verifiers import VerifierInterrupted, VerifierRunner

EXIT_STATUSES = {"stop": "stopped", "suspend": "suspended"}
EXIT_CONFIG = 2
# more than this share of a step's samples with a verifier error gives a warning
VERIFIER_ERROR_WARN_FRAC = 0.5


class RunError(Exception):
    """A failure its message explains fully: the run ends failed with it, without a traceback."""


class InputError(ValueError):
    """The verifier cannot be used; found before any model loads."""


@dataclass
class Inputs:
    """What a run reads besides its model: the verifier, the training prompts (tokenized) and the
    eval sets; `too_long` are the training prompts left out by rollout.max_prompt_tokens."""

    verifier: VerifierRunner
    train_examples: list[Example]
    eval_sets: list
    too_long: list[Example]

    def close(self) -> None:
        self.verifier.close()

    def __enter__(self) -> "Inputs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_inputs(cfg: Config, base_dir: Path) -> Inputs:
    """Reads and tokenizes the data (chat prompts through the chat template; prompts over
    rollout.max_prompt_tokens leave training, all of them is an error) and starts the verifier,
    before any model loads. A data problem raises DataError (a ConfigError naming the file, line,
    key and fix); a verifier that cannot start raises InputError."""
    base_dir = Path(base_dir)
    base_model = resolve_model_path(cfg.model.path, base_dir=base_dir)
    tokenizer = load_tokenizer(base_model)

    def encode(examples):
        return encode_examples(examples, tokenizer, cfg.task, model_dir=base_model)

    train = encode(load_examples(cfg.task, "train", base_dir=base_dir))
    eval_sets = encoded(load_eval_sets(cfg, base_dir=base_dir), encode)
    train_examples, too_long = drop_long_prompts(train, cfg.rollout.max_prompt_tokens)
    if not train_examples:
        shortest = min(len(e.prompt_ids) for e in too_long)
        raise DataError(None, "rollout.max_prompt_tokens",
                        f"every one of the {len(too_long)} training prompts is longer than {cfg.rollout.max_prompt_tokens} tokens (the shortest has {shortest})",
                        f"raise rollout.max_prompt_tokens to at least {shortest}, or shorten the prompts")
    try:
        verifier = VerifierRunner(cfg.task.verifier, base_dir=str(base_dir), timeout_s=cfg.task.verifier_timeout_s,
                                  workers=cfg.task.verifier_workers)
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
    return Inputs(verifier, train_examples, eval_sets, too_long)


class StopRun(Exception):
    """Leave the loop with a final status after a checkpoint (stop, suspend, a signal)."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class StepData:
    """What one step's phases hand to the next."""

    examples: list[Example]
    batch: RolloutBatch
    verdicts: list
    labels: torch.Tensor  # [B] float32, 0/1
    group_ids: torch.Tensor  # [B]
    old_logp: torch.Tensor  # [B, R]; filled by the update itself when `fused_old`
    ref_logp: torch.Tensor | None  # [B, R]
    entropy: torch.Tensor  # [B, R] of π_old; filled by the update itself when `fused_old`
    fused_old: bool  # old_logp is the update's own forward at θ_old (one optimizer step per batch)
    minis: list[list[slice]]  # the mini-batches (whole groups), each a list of micro-batches (any rows)


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate of 1-based `step`: constant, or linear warm-up then cosine to lr·min_lr_ratio."""
    o = cfg.optim
    if o.schedule == "constant":
        return o.lr
    if step <= o.warmup_steps:
        return o.lr * step / max(1, o.warmup_steps)
    progress = (step - o.warmup_steps) / max(1, cfg.total_steps - o.warmup_steps)
    return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _no_dropout(model: torch.nn.Module) -> None:
    """RL updates run without dropout, so logp at θ_old equals old_logp exactly (ψ = 0 at start)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


SMALL_STEP_WORK = 10_000_000_000  # parameters × response tokens of a step, below which one thread is faster


def step_work(model: torch.nn.Module, cfg: Config) -> int:
    """The size of a step's work: parameters × the response tokens it samples at most."""
    return sum(p.numel() for p in model.parameters()) * cfg.rollout.prompts_per_step * cfg.rollout.n * cfg.rollout.max_new_tokens


def tune_cpu_threads(model: torch.nn.Module, device: torch.device, log: Callable[[str], None], work: int) -> None:
    """Runs a small step on one CPU thread unless OMP_NUM_THREADS says otherwise; a large one on
    torch's default threads.

    `work` is `step_work`. Below SMALL_STEP_WORK the matrices are too small for intra-op threads to
    pay for their synchronisation, and on a busy machine spinning threads slow every step
    several-fold (measured: 1.8 s against 12.8 s per step of the demo, 4·10⁸, on 2 loaded cores).
    Above it every phase gains from the threads (measured on an idle 2-core machine at the
    realistic shape of bench/trainer_vs_trl, 1.6·10¹¹: 18.0 s against 29.3 s a step, rollout,
    update and ψ_post alike).
    """
    if device.type != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    if work < SMALL_STEP_WORK and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
        log("small step on CPU: using one thread (set OMP_NUM_THREADS to choose)")


# glibc's malloc parameters (malloc.h) and the environment variables by which a user sets them
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
MALLOC_ENV = ("GLIBC_TUNABLES", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(device: torch.device, log: Callable[[str], None]) -> bool:
    """On a CPU under glibc, has malloc keep the memory it frees for reuse (no chunk of its own
    mapping, no trimming) unless the environment sets malloc's parameters itself; whether it did.

    By default every allocation over 32 MB gets fresh pages that the kernel zero-fills one by one
    and takes back when it is freed: a step's activations, logits chunks and gradients, again at
    every step (measured: 2.3M minor faults in each update of a 10M-parameter model at 64 × 320
    tokens). Kept, the heap grows to the step's peak once and serves every later step from it.
    """
    if device.type != "cpu" or any(name in os.environ for name in MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a libc without mallopt: not glibc
        return False
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1)):
        return False
    log("CPU: malloc keeps freed memory for reuse (set MALLOC_TRIM_THRESHOLD_ to choose)")
    return True


def token_micro_batches(lengths: list[int], prompt_len: int, budget: int, start: int, stop: int) -> list[slice]:
    """Rows start..stop cut into runs whose rows × (prompt_len + longest response) ≤ `budget`
    (the positions of one padded forward pass); a row over the budget on its own runs alone."""
    slices, first, longest = [], start, 0
    for row in range(start, stop):
        length = max(1, lengths[row])
        if row > first and (row + 1 - first) * (prompt_len + max(longest, length)) > budget:
            slices.append(slice(first, row))
            first, longest = row, 0
        longest = max(longest, length)
    slices.append(slice(first, stop))
    return slices


def export_model(model: torch.nn.Module, out: Path, dtype: torch.dtype) -> None:
    """save_pretrained in `dtype` (the compute dtype): float32 master weights cast on the way out."""
    if all(p.dtype == dtype for p in model.parameters()):
        model.save_pretrained(out)
        return
    state, storages = {}, set()
    for key, value in model.state_dict().items():
        if value.data_ptr() in storages:  # a tied weight (lm_head = embeddings): saved once, as save_pretrained does
            continue
        storages.add(value.data_ptr())
        state[key] = value.detach().to("cpu", dtype)
    model.save_pretrained(out, state_dict=state)
    config_path = Path(out) / "config.json"
    config = json.loads(config_path.read_text())
    name = str(dtype).removeprefix("torch.")
    config.update({key: name for key in ("dtype", "torch_dtype") if key in config} or {"dtype": name})
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.AdamW:
    """AdamW with PyTorch's fused kernel (one kernel for the whole update, on CPU and CUDA), or its
    `foreach` form (one kernel per operation) where this device or dtype has no fused kernel."""
    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = {"lr": cfg.optim.lr, "betas": tuple(cfg.optim.betas), "weight_decay": cfg.optim.weight_decay}
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except RuntimeError:
        return torch.optim.AdamW(params, foreach=True, **kwargs)


class Trainer:
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
        self.control = ControlReader(self.run_dir)
        self.verifier.interrupted = self._exit_requested
        self._saved_seq = -1
        if checkpoint is not None:
            self._load_state(checkpoint / runio.TRAINER_STATE)
            self.log(f"resumed from {checkpoint.relative_to(self.run_dir)} (step {self.step})")
        if self.restarted:
            self.log("no checkpoint yet: starting again from step 0 with the run's config and seed")
        self.resumed = checkpoint is not None
        self.paused = False
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
        self._set_status(status, reason)
        self.events.emit("run_finished", status=status)
        return status

    def train_step(self, step: int) -> dict[str, float | None]:
        cfg = self.cfg
        t0 = time.perf_counter()
        # rollout
        examples = self.sampler.next_batch()
        with self._compute():
            batch = generate_rollouts(self.model, self.tokenizer, [e.prompt_ids for e in examples], n=self.n,
                                      max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
                                      top_p=cfg.rollout.top_p, generator=self.generator,
                                      batch_prompts=cfg.rollout.batch_prompts)
        t_rollout = time.perf_counter() - t0
        # verify
        verdicts = self.verifier.verify([(text, examples[g].answer, examples[g].prompt, examples[g].extra_info)
                                         for text, g in zip(batch.response_texts, batch.prompt_index)])
        verifier_errors = self._check_verdicts(step, verdicts)
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
        data = StepData(examples, batch, verdicts, labels, group_ids, old_logp, ref_logp, entropy, fused_old, minis)
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
        if cfg.logging.rollouts_every and step % cfg.logging.rollouts_every == 0:
            records = self._records(step, data, post_logp, rhat, psi, weights)
            rel = runio.write_rollouts(self.run_dir, step, records, jsonl=self.cfg.logging.rollouts_jsonl)
            self.events.emit("rollouts", step=step, file=rel, count=len(records))
        step_s = time.perf_counter() - t0
        mask = batch.response_mask.bool()
        lengths = torch.tensor(batch.lengths, dtype=torch.float32)
        groups = labels.reshape(-1, self.n).sum(1)  # [G]
        values = {
            "reward/mean": labels.mean().item(),
            "reward/std": labels.std(unbiased=False).item(),
            "reward/mixed_group_frac": ((groups > 0) & (groups < self.n)).float().mean().item(),
            "verifier/error_frac": verifier_errors,
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
        return {k: (None if v is None else _finite(v)) for k, v in values.items()}

    # ------------------------------------------------------------ phases

    def _partition(self, batch: RolloutBatch) -> list[list[slice]]:
        """Mini-batches of whole groups, each cut into micro-batches: optim.micro_batch_prompts groups,
        or runs of rows within optim.micro_batch_tokens (which may split groups)."""
        o, n = self.cfg.optim, self.n
        total, mini_rows = self.cfg.rollout.prompts_per_step * n, o.mini_batch_prompts * n
        minis = []
        for start in range(0, total, mini_rows):
            stop = start + mini_rows
            if o.micro_batch_tokens is None:
                step = o.micro_batch_prompts * n
                minis.append([slice(a, a + step) for a in range(start, stop, step)])
            else:
                minis.append(token_micro_batches(batch.lengths, batch.prompt_len, o.micro_batch_tokens, start, stop))
        return minis

    def _whole_groups(self, rows: slice) -> bool:
        return rows.start % self.n == 0 and rows.stop % self.n == 0

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

    def _one_update_per_batch(self) -> bool:
        o = self.cfg.optim
        return o.epochs == 1 and o.mini_batch_prompts == self.cfg.rollout.prompts_per_step

    def _compute(self):
        """Autocast to the compute dtype around a forward pass (the weights stay float32)."""
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.compute_dtype)

    def _forward(self, model, batch: RolloutBatch, rows: slice, *, return_entropy: bool = False):
        """Log-probs of `rows` at the rollout temperature, the response trimmed to its longest real
        response: [b, r].

        Each group's prompt runs once and its n responses read it from the KV cache
        (optim.share_prompts, for rows of whole groups), else every row runs prompt + response.
        """
        cfg = self.cfg
        response_mask = batch.response_mask[rows]  # [b, R]
        width = int(response_mask.sum(1).max().item()) or 1
        prompt_len = batch.prompt_len
        options = {"return_entropy": return_entropy, "temperature": cfg.rollout.temperature,
                   "chunk_tokens": cfg.optim.logprob_chunk_tokens}
        with self._compute():
            if cfg.optim.share_prompts and self.n > 1 and self._whole_groups(rows) and can_share_prompts(model):
                group_rows = slice(rows.start, rows.stop, self.n)  # the first row of each group
                # whole groups by construction (the rollout repeats each prompt n times; the losses check group_ids)
                return grouped_sequence_logprobs(model, batch.input_ids[group_rows, :prompt_len],
                                                 batch.attention_mask[group_rows, :prompt_len],
                                                 batch.input_ids[rows, prompt_len : prompt_len + width],
                                                 response_mask[:, :width], n=self.n, **options)
            input_ids = batch.input_ids[rows, : prompt_len + width]  # [b, P+r]
            attention_mask = batch.attention_mask[rows, : prompt_len + width]  # [b, P+r]
            return sequence_logprobs(model, input_ids, attention_mask, response_mask[:, :width], **options)

    @torch.no_grad()
    def _logprobs_no_grad(self, model, batch: RolloutBatch, micro: list[slice], *, return_entropy: bool = False):
        """[B, R] log-probs (and entropies) by the update's micro-batches, zero past each row's response."""
        was_training = model.training
        set_training(model, False)
        shape = batch.response_mask.shape
        logp = torch.zeros(shape, device=self.device)
        entropy = torch.zeros(shape, device=self.device) if return_entropy else None
        for rows in micro:
            lp, ent = self._forward(model, batch, rows, return_entropy=return_entropy)
            logp[rows, : lp.shape[1]] = lp.float()
            if entropy is not None:
                entropy[rows, : ent.shape[1]] = ent.float()
        set_training(model, was_training)
        return logp, entropy

    def _reference_logprobs(self, batch: RolloutBatch, micro: list[slice]) -> torch.Tensor | None:
        """[B, R] log-probs of the frozen reference when a KL term asks: the base model, or with LoRA
        the policy with its adapters switched off."""
        if self.ref_model is not None:
            return self._logprobs_no_grad(self.ref_model, batch, micro)[0]
        if not (self.algorithm.needs_reference(self.cfg) and has_lora(self.model)):
            return None
        set_adapters(self.model, False)
        try:
            return self._logprobs_no_grad(self.model, batch, micro)[0]
        finally:
            set_adapters(self.model, True)

    def _update_forward(self, d: StepData, rows: slice):
        """(logp with gradient, old_logp, mask) of `rows`, [b, r] each."""
        logp, entropy = self._forward(self.model, d.batch, rows, return_entropy=d.fused_old)  # [b, r] each
        width = logp.shape[1]
        if d.fused_old:  # this forward runs at θ_old: its values are old_logp (see train_step)
            d.old_logp[rows, :width] = logp.detach().float()
            d.entropy[rows, :width] = entropy.float()
        return logp, d.old_logp[rows, :width], d.batch.response_mask[rows, :width]

    def _loss(self, d: StepData, rows: slice, advantages: torch.Tensor | None):
        """(loss, loggable metrics) of one micro-batch: a mean over its own rows or tokens."""
        logp, old, mask = self._update_forward(d, rows)
        ref = d.ref_logp[rows, : logp.shape[1]] if d.ref_logp is not None else None
        loss, metrics = self.algorithm.loss(self.cfg, LossInput(logp, old, mask, d.labels[rows], d.group_ids[rows], ref,
                                                                advantages, self.n))
        return loss, {k: v for k, v in metrics.items() if not k.startswith("per_sample/")}

    def _size(self, d: StepData, rows: slice) -> float:
        """The micro-batch's share of its mini-batch's mean: its rows, or its real tokens."""
        if self.algorithm.aggregation == "tokens":
            return float(d.batch.response_mask[rows].sum())
        return float(rows.stop - rows.start)

    def _accumulate(self, d: StepData, mini: list[slice], advantages: torch.Tensor | None) -> dict[str, float]:
        """Backward of the mini-batch's loss as micro-batch losses weighted by their share; its metrics."""
        sizes = [self._size(d, rows) for rows in mini]
        total = sum(sizes) or 1.0
        start, out = mini[0].start, {}
        for rows, size in zip(mini, sizes):
            adv = None if advantages is None else advantages[rows.start - start : rows.stop - start]
            loss, metrics = self._loss(d, rows, adv)
            (loss * (size / total)).backward()
            for k, v in metrics.items():
                out[k] = out.get(k, 0.0) + float(v) * size / total
        return out

    def _accumulate_coupled(self, d: StepData, mini: list[slice], at_old: bool) -> dict[str, float]:
        """The exact gradient of a loss that couples a group's rows (PACS) under micro-batches that
        split groups: c = ∂L/∂p over the whole mini-batch from detached proxies p (no forward pass at
        θ = θ_old where p ≡ 0), then Σ_j c_j · p_j backpropagated over each micro-batch."""
        cfg, coupling = self.cfg, self.algorithm.coupling
        span = slice(mini[0].start, mini[-1].stop)
        if at_old and coupling.zero_at_old(cfg):
            proxy = torch.zeros(span.stop - span.start, device=self.device)  # [b]
        else:
            with torch.no_grad():
                proxy = torch.cat([coupling.proxy(cfg, *self._update_forward(d, rows)) for rows in mini])  # [b]
        c, metrics = coupling.gradient(cfg, proxy, d.labels[span], d.group_ids[span], self.n)  # [b]
        for rows in mini:
            local = c[rows.start - span.start : rows.stop - span.start]  # [m]
            (local * coupling.proxy(cfg, *self._update_forward(d, rows))).sum().backward()
        return {k: float(v) for k, v in metrics.items()}

    def _updates(self, d: StepData) -> dict[str, float]:
        """Per mini-batch (whole groups), micro-batch gradient accumulation, one optimizer step; `epochs` passes."""
        cfg, algorithm = self.cfg, self.algorithm
        set_training(self.model, True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        clip = cfg.optim.max_grad_norm or float("inf")
        sums: dict[str, float] = {}
        norms, skipped, updates = [], 0, 0
        for _ in range(cfg.optim.epochs):
            for mini in d.minis:
                self.optimizer.zero_grad(set_to_none=True)
                if all(self._whole_groups(rows) for rows in mini):
                    metrics = self._accumulate(d, mini, advantages=None)
                elif algorithm.coupling is not None:
                    metrics = self._accumulate_coupled(d, mini, at_old=len(norms) == 0)
                else:  # a row-separable loss: its advantages come from the whole mini-batch's groups
                    span = slice(mini[0].start, mini[-1].stop)
                    advantages = algorithm.advantages(cfg, d.labels[span], d.group_ids[span], self.n)
                    metrics = self._accumulate(d, mini, advantages=advantages)
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + v
                norm = torch.nn.utils.clip_grad_norm_(params, clip)
                updates += 1
                if torch.isfinite(norm):
                    self.optimizer.step()
                    norms.append(norm.item())
                else:
                    skipped += 1
                    self.optimizer.zero_grad(set_to_none=True)
                    self.events.emit("log", step=self.step, level="warning",
                                     message=f"skipped an optimizer step: gradient norm is {norm.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        out = {k: v / updates for k, v in sums.items()}
        out["optim/grad_norm"] = sum(norms) / len(norms) if norms else float("nan")
        out["optim/skipped"] = float(skipped)
        return out

    def _records(self, step: int, d: StepData, post_logp, rhat, psi, weights) -> list[dict]:
        """Per-sample records; without ψ_post this step (logging.critic_every) its fields are null."""
        cfg = self.cfg
        columns = {"weight": weights.detach().cpu().tolist()}
        names = ("logratio", "psi", "p_correct", "grad_weight")
        if psi is None:
            columns.update({name: [None] * len(d.verdicts) for name in names})
        else:
            p_correct = torch.sigmoid(psi)  # [B]
            columns.update({name: t.detach().cpu().tolist() for name, t in zip(
                names, (rhat, psi, p_correct, d.labels - p_correct))})
        token_logratio = None if post_logp is None else (cfg.pacs.beta * (post_logp - d.old_logp)).cpu()  # [B, R]
        records = []
        for i, verdict in enumerate(d.verdicts):
            g = d.batch.prompt_index[i]
            example = d.examples[g]
            record = {
                "step": step, "group": g, "index": i - g * self.n, "prompt_id": example.id,
                "prompt": example.prompt, "response": d.batch.response_texts[i], "answer": example.answer,
                "reward": float(verdict.label),
                "verifier": {"parsed": verdict.parsed, "detail": verdict.detail, "error": verdict.error},
                **{name: None if values[i] is None else _finite(values[i]) for name, values in columns.items()},
                "length": d.batch.lengths[i], "truncated": d.batch.truncated[i],
            }
            if cfg.logging.log_token_details:
                record["tokens"] = d.batch.response_tokens[i]
                if token_logratio is not None:
                    record["token_logratio"] = [_finite(x) for x in token_logratio[i, : d.batch.lengths[i]].tolist()]
            records.append(record)
        return records

    def _evaluate(self) -> None:
        cfg = self.cfg
        t0 = time.perf_counter()
        with self._compute():
            values = evaluate_sets(self.model, self.tokenizer, self.eval_sets, self.verifier,
                                   generator=eval_generator(self.device, cfg.seed, self.step))
        values["perf/eval_s"] = time.perf_counter() - t0
        self._emit_values("eval", self.step, values)
        shown = "  ".join(f"{k.removeprefix('eval/')} {v:.3f}" for k, v in values.items() if k.startswith("eval/"))
        self.log(f"eval step {self.step}: {shown}")

    # ------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> None:
        if self.checkpointed_step == self.step and self.control.last_seq == self._saved_seq:
            return
        state = self._state()

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

    def _state(self) -> dict:
        rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        state = {
            "format": 1,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "generator": self.generator.get_state(),
            "sampler": self.sampler.state_dict(),
            "last_control_seq": self.control.last_seq,
            "config": self.cfg.model_dump(mode="json"),
        }
        if self.compute_dtype != torch.float32:  # the export is cast down: keep the float32 masters for resume
            state["master_weights"] = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return state

    def _load_state(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)  # a run folder is untrusted: no pickled code
        self.step = state["step"]
        if "master_weights" in state:
            self.model.load_state_dict(state["master_weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.generator.set_state(state["generator"])
        self.sampler.load_state_dict(state["sampler"])
        self.control.last_seq = state["last_control_seq"]
        self._saved_seq = self.control.last_seq

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
        exit_as, want_checkpoint, acks = None, False, []
        if self.signals.received:
            exit_as = ("stopped", f"received {self.signals.received}")
        for cmd in commands:
            self.control.last_seq = max(self.control.last_seq, cmd.seq)
            result = "ok"
            if cmd.command not in COMMANDS:
                result = f"ignored: unknown command (use one of {', '.join(COMMANDS)})"
            elif cmd.command == "pause":
                result = "ignored: already paused" if self.paused else "ok"
                self.paused = True
            elif cmd.command == "resume":
                result = "ok" if self.paused else "ignored: not paused"
                self.paused = False
            elif cmd.command == "checkpoint":
                want_checkpoint = True
            elif exit_as is None:
                exit_as = (EXIT_STATUSES[cmd.command], f"{cmd.command} command (seq {cmd.seq})")
            else:
                result = f"ignored: already exiting as {exit_as[0]}"
            acks.append((cmd, result))
        if want_checkpoint or exit_as:
            self._checkpoint()
        if commands and not exit_as:  # before the acks: whoever sees an ack reads the status it led to
            status = "paused" if self.paused else "running"
            if status != self.info.get("status"):
                self._set_status(status, "control command")
        for cmd, result in acks:
            self.events.emit("control_ack", step=self.step, seq=cmd.seq, command=cmd.command, result=result)
        if exit_as:
            raise StopRun(*exit_as)

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

        loss_key = self.algorithm.loss_metric
        self.on_step(self.step, f"step {self.step}/{self.cfg.total_steps}  reward {show('reward/mean')}  loss {show(loss_key, '{:.4f}')}  "
                 f"auc {show('critic/auc')}  grad {show('optim/grad_norm')}  {show('perf/step_s', '{:.2f}')} s")


# ---------------------------------------------------------------- entry point


def prepare_run_dir(cfg: Config, *, config_path: Path | None, run_dir: Path | None, runs_root: Path,
                    resume: bool, base_dir: Path | None = None) -> Path:
    """The run directory, created when no launcher made it; run.json keeps the launcher's fields.
    What a killed writer left half done is removed (the caller holds the run's lock). run.json
    records this process at once, and with `base_dir` a new run's config.yaml is written here, so
    a run killed from now on reads `crashed` and resumes from step 0."""
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
        _write_config(cfg, run_dir, base_dir)
    info.update(format=runio.FORMAT_VERSION, algorithm=cfg.algorithm,
                loss_metric=algorithms.get(cfg.algorithm).loss_metric, total_steps=cfg.total_steps, seed=cfg.seed,
                error=None, status="starting", **runio.process_fields(), **fields)
    return run_dir


def _write_config(cfg: Config, run_dir: Path, base_dir: Path) -> None:
    runio.write_atomic(run_dir / runio.CONFIG, yaml.safe_dump(resolved_dict(cfg, base_dir), sort_keys=False))


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
            _write_config(cfg, run_dir, base_dir)
        with Heartbeat(info, cfg.launch.heartbeat_s):
            trainer = Trainer(cfg, run_dir, base_dir=base_dir, resume=resume, events=events, info=info, log=log,
                              on_step=on_step, inputs=inputs)
            status = trainer.run()
        log(f"run {status}: {run_dir}")
        return 0
    except ConfigError as exc:  # the data or the model does not fit the config: exit 2 as for a config error
        if exc.file is None and info.get("config_path"):
            exc = ConfigError(info.get("config_path"), exc.issues)
        _record_failure(info, events, f"config error: {exc}", None)
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        info.update(status="stopped", error=None)
        events.emit("state", status="stopped", reason="interrupted twice: exited without a checkpoint")
        events.emit("run_finished", status="stopped")
        return 130
    except (RunError, InputError) as exc:
        message = f"{'input error: ' if isinstance(exc, InputError) else ''}{exc}"
        _record_failure(info, events, message, None)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, InputError) else 1
    except Exception as exc:  # noqa: BLE001 - any failure must end as status failed, with its traceback
        tb = traceback.format_exc()
        _record_failure(info, events, f"{type(exc).__name__}: {exc}", tb)
        print(tb, file=sys.stderr)
        return 1
    finally:
        if owned is not None:
            owned.close()
        events.close()


def _record_failure(info: runio.RunInfo, events: runio.EventLog, message: str, tb: str | None) -> None:
    info.update(status="failed", error={"message": message, "traceback": tb})
    events.emit("error", message=message, traceback=tb)
    events.emit("state", status="failed", reason=message)
    events.emit("run_finished", status="failed")
