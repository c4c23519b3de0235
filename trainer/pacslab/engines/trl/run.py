"""One process of an `engine: trl` run: `python -m pacslab.engines.trl.run RUN_DIR [--resume]`,
started on every rank by the launcher (launch.py) with the run's resolved config.yaml.

The same config sections as the native engine: the task's prompts and verifier become a dataset
and a reward function, the rollout, optim and grpo sections the GRPOConfig, and `trl:` the rest.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from torch.distributed.elastic.multiprocessing.errors import record

from pacslab.run import files as runio
from pacslab.run.lifecycle import base_dir_of
from pacslab.run.names import chat_text
from pacslab.config import Config, load_config
from pacslab.engines.checks import world_size

SCHEDULES = {"constant": "constant", "warmup_cosine": "cosine_with_min_lr"}
# TRL's loss_type for an algorithm's aggregation: "dapo" sums the tokens over the accumulated global
# batch, which PacsGRPOTrainer makes each mini-batch's own token count (the native token mean);
# "grpo" averages each response's tokens, then the rows (the row-mean algorithms, pacs and rloo, take
# their own losses in PacsGRPOTrainer: it serves a stock GRPOTrainer given these arguments)
LOSS_TYPES = {"tokens": "dapo", "rows": "grpo"}


def updates_per_step(cfg: Config) -> int:
    """Optimizer steps per rollout batch: mini-batches × epochs (TRL counts these as its steps)."""
    return cfg.rollout.prompts_per_step // cfg.optim.mini_batch_prompts * cfg.optim.epochs


def grpo_args(cfg: Config, run_dir: Path, *, cuda: bool):
    """trl.GRPOConfig from the config's sections: one generation per step, split into
    prompts_per_step / mini_batch_prompts mini-batches (TRL's steps_per_generation over its
    accumulation steps), `optim.epochs` passes (num_iterations). TRL's step is one optimizer step,
    so its step counts (max_steps, save, logging, warm-up) are the config's × updates_per_step.
    The schedule here is TRL's nearest, for a stock GRPOTrainer; PacsGRPOTrainer takes the native
    engine's instead (build_trainer's lr_schedule), which holds a step's rate across its updates."""
    from trl import GRPOConfig

    from pacslab.algorithms import get

    extra = dict(cfg.trl)
    algorithm = get(cfg.algorithm)
    accumulation = int(extra.pop("gradient_accumulation_steps", 1))
    o, n = cfg.optim, cfg.rollout.n
    minis, updates = cfg.rollout.prompts_per_step // o.mini_batch_prompts, updates_per_step(cfg)
    schedule = {"lr_scheduler_kwargs": {"min_lr_rate": o.min_lr_ratio}} if o.schedule == "warmup_cosine" else {}
    half = cfg.model.dtype in ("bfloat16", "auto") and cuda
    extra.setdefault("disable_dropout", True)  # c's no-grad r̂ is the loss's r̂ (the native engine has no dropout either)
    return GRPOConfig(
        output_dir=str(run_dir / "checkpoints" / ".trl"),
        per_device_train_batch_size=o.mini_batch_prompts * n // (world_size(cfg) * accumulation),
        gradient_accumulation_steps=accumulation, steps_per_generation=minis * accumulation, num_iterations=o.epochs,
        num_generations=n, max_completion_length=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p, learning_rate=o.lr, weight_decay=o.weight_decay, adam_beta1=o.betas[0],
        adam_beta2=o.betas[1], lr_scheduler_type=SCHEDULES[o.schedule], warmup_steps=o.warmup_steps * updates,
        max_grad_norm=o.max_grad_norm, gradient_checkpointing=cfg.model.gradient_checkpointing,
        max_steps=cfg.total_steps * updates, seed=cfg.seed, epsilon=cfg.grpo.clip_eps,
        # a KL term (and TRL's reference model) only where the native loss has one: not pacs, not rloo
        beta=cfg.grpo.kl_coef if algorithm.needs_reference(cfg) else 0.0,
        loss_type=LOSS_TYPES[algorithm.aggregation], bf16=half and cfg.model.dtype != "float16",
        fp16=cuda and cfg.model.dtype == "float16",
        use_cpu=not cuda, save_strategy="steps", save_steps=(cfg.checkpoint_every or cfg.total_steps) * updates,
        logging_steps=updates, report_to=[], disable_tqdm=True, **_vllm(cfg), **schedule, **extra)


def _vllm(cfg: Config) -> dict:
    if cfg.rollout.engine != "vllm":
        return {}
    url = cfg.rollout.vllm_server_url
    return {"use_vllm": True, "vllm_mode": "server" if url else "colocate", **({"vllm_server_base_url": url} if url else {})}


def trainer_inputs(cfg: Config, run_dir: Path, *, base_dir: Path) -> dict:
    """The keyword arguments of a GRPOTrainer for this config: the task's data, the verifier as the
    reward, the policy in float32 and the GRPOConfig (stock GRPOTrainer takes them as they are)."""
    import torch
    from datasets import Dataset

    from pacslab.models import load_policy, resolve_model_path
    from pacslab.tasks import load_examples, verify
    from pacslab.verifiers import load_verifier

    cuda = cfg.device != "cpu" and torch.cuda.is_available()
    examples = load_examples(cfg.task, "train", base_dir=base_dir)
    verifier = load_verifier(cfg.task.verifier, base_dir=str(base_dir))
    dataset = Dataset.from_list([{"prompt": list(e.messages) if e.messages else e.prompt, "example": i}
                                 for i, e in enumerate(examples)])

    def verifier_reward(completions, example, log_extra=None, **_):
        verdicts = [verify(verifier, chat_text(c), examples[i]) for c, i in zip(completions, example)]
        if log_extra is not None:
            log_extra("verifier", [{"parsed": v.parsed, "detail": v.detail, "error": v.error} for v in verdicts])
            log_extra("answer", [examples[i].answer for i in example])
            log_extra("prompt_id", [examples[i].id for i in example])  # the prompt ledger's ids (health/ledger.py)
            log_extra("data_source", [examples[i].data_source for i in example])
        return [float(v.label) for v in verdicts]

    model, tokenizer = load_policy(resolve_model_path(cfg.model.path, base_dir=base_dir), device=torch.device("cpu"),
                                   dtype="float32", lora=cfg.model.lora)
    return {"model": model, "processing_class": tokenizer, "reward_funcs": [verifier_reward],
            "args": grpo_args(cfg, run_dir, cuda=cuda), "train_dataset": dataset}


def build_trainer(cfg: Config, run_dir: Path, *, base_dir: Path):
    """PacsGRPOTrainer for this config, with the pacs section's options and the eval sets."""
    from pacslab.engines.trl.trainer import PacsGRPOTrainer
    from pacslab.schedule import lr_at

    pacs = cfg.pacs
    inputs = trainer_inputs(cfg, run_dir, base_dir=base_dir)
    return PacsGRPOTrainer(**inputs, algorithm=cfg.algorithm, evaluation=evaluation(cfg, inputs["processing_class"],
                                                                                    base_dir=base_dir),
                           pacs_options={"beta": pacs.beta, "adv_estimator": pacs.adv_estimator,
                                         "norm_by_std": pacs.norm_by_std, "weight_mode": pacs.weight_mode,
                                         "reward_method": pacs.reward_method},
                           updates_per_step=updates_per_step(cfg), lr_schedule=lambda step: lr_at(cfg, step),
                           dynamic_sampling_rounds=cfg.rollout.dynamic_sampling_max_rounds if cfg.rollout.dynamic_sampling else 0)


def evaluation(cfg: Config, tokenizer, *, base_dir: Path):
    """The eval sets, encoded as the native engine encodes them, with the verifier and eval_every."""
    from pacslab.engines.trl.evaluation import Evaluation
    from pacslab.evaluate import encoded, load_eval_sets
    from pacslab.models import resolve_model_path
    from pacslab.tasks import encode_examples
    from pacslab.verifiers import load_verifier

    model_dir = resolve_model_path(cfg.model.path, base_dir=base_dir)
    sets = encoded(load_eval_sets(cfg, base_dir=base_dir),
                   lambda examples: encode_examples(examples, tokenizer, cfg.task, model_dir=model_dir))
    return Evaluation(sets, load_verifier(cfg.task.verifier, base_dir=str(base_dir)), cfg.eval_every)


def add_run_callback(trainer, cfg: Config, run_dir: Path, *, base_dir: Path | None = None, launched: bool = False):
    """Adds the PacsLabCallback that writes `run_dir` with the config's algorithm (and
    task.audit_verifier on rank 0); returns it. `launched`: by `python -m pacslab train` (launch.py)."""
    from pacslab.algorithms import get
    from pacslab.audit import Audit
    from pacslab.engines.trl.callback import PacsLabCallback

    audit = Audit.from_config(cfg, base_dir or run_dir) if trainer.accelerator.is_main_process else None
    callback = PacsLabCallback(trainer, run_dir, algorithm=cfg.algorithm, loss_metric=get(cfg.algorithm).loss_metric,
                               config=cfg.model_dump(mode="json"), alerts=cfg.alerts, audit_verifier=audit,
                               rollouts_jsonl=cfg.logging.rollouts_jsonl, launched=launched)
    trainer.add_callback(callback)
    return callback


@record  # an error is written where the launcher reads it: its report names this rank and the error (agent.py)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pacslab.engines.trl.run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    base_dir = base_dir_of(run_dir)
    cfg = load_config(run_dir / runio.CONFIG, base_dir=base_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from pacslab.engines.trl.evaluation import EvalSchedule
    from pacslab.engines.trl.minibatch import CriticSchedule

    trainer = build_trainer(cfg, run_dir, base_dir=base_dir)
    callback = add_run_callback(trainer, cfg, run_dir, base_dir=base_dir, launched=True)
    trainer.add_callback(CriticSchedule(trainer, cfg.logging.critic_every))  # ψ_post: critic/* and the records
    trainer.add_callback(EvalSchedule(trainer))  # after the callback that writes the eval events
    checkpoint = runio.latest_checkpoint(run_dir) if args.resume else None
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except BaseException as exc:
        callback.fail(exc)
        raise
    # Accelerate's documented end of a script: its process group destroyed here, not by the interpreter's
    # exit, where a rank once aborted with "terminate called without an active exception" (SIGABRT) after
    # the run had finished and saved.
    trainer.accelerator.end_training()
    return 0


def exit_finished_rank(code: int = 0) -> NoReturn:
    """Ends a rank whose work is done and written (run files closed, process group destroyed)
    without the interpreter's teardown: there gloo's C++ threads, still joinable after
    `destroy_process_group`, abort the process ("terminate called without an active exception",
    SIGABRT) in about 1 exit in 10 on CPU (a 6-line DDP script under torchrun does it), and torchrun
    then fails a run that had finished and saved. Output and logging are flushed first; the
    run's files are closed by the callback's on_train_end, and `engine: trl` reports to the run
    directory only, so no atexit work of ours is skipped."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_finished_rank(main())  # an exception leaves main as usual: @record writes it, the rank fails
