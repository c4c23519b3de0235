"""TRL's GRPOTrainer on a pacslab config's task and verifier, timed per optimizer step.
Run with the main .venv's python (trl is pinned in trainer/requirements.txt).

One step = PROMPTS prompts × N generations (per_device_train_batch_size = PROMPTS·N completions,
steps_per_generation 1), on the CPU, no vLLM, fp32, the config's verifier, as pacslab.
Prints one JSON line: {"step_times": [...], "tokens": [...]} for the steps after the warm-up.
"""

from __future__ import annotations

import argparse
import sys
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--config", required=True, help="the *.pacs.yaml whose task (train split) TRL trains on")
    p.add_argument("--out", required=True)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="the allocator setting pacslab's CPU runs make (pacslab.engines.native.cpu.keep_freed_memory), for TRL too")
    args = p.parse_args()
    if args.keep_freed_memory:
        import torch

        from pacslab.engines.native.cpu import keep_freed_memory

        if not keep_freed_memory(torch.device("cpu"), lambda line: print(line, file=sys.stderr)):
            raise SystemExit("--keep-freed-memory: malloc's parameters could not be set (not glibc, or MALLOC_* set)")

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from pacslab.config import load_config
    from pacslab.tasks import load_examples
    from pacslab.verifiers import load_verifier

    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=torch.float32)
    # The config's task and train split, prompts as plain text with its template (no chat template).
    cfg = load_config(Path(args.config), [])
    train = load_examples(cfg.task, "train", base_dir=Path(args.config).resolve().parent)
    dataset = Dataset.from_list([{"prompt": e.prompt, "answer": e.answer} for e in train])
    verifier = load_verifier(cfg.task.verifier, base_dir=str(Path(args.config).resolve().parent))

    def verifier_reward(prompts, completions, answer, **_):
        return [float(verifier(c, a, p).label) for p, c, a in zip(prompts, completions, answer)]

    total = args.warmup + args.steps
    config = GRPOConfig(
        output_dir=args.out,
        per_device_train_batch_size=args.prompts * args.n,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=args.n,
        num_iterations=1,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        top_p=1.0,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=1.0,
        beta=0.0,
        epsilon=0.2,
        max_steps=total,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        fp16=False,
        use_vllm=False,
        seed=args.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        gradient_checkpointing=False,
    )
    marks: list[float] = []
    tokens: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *_, **__):
            marks.append(time.perf_counter())

        def on_step_end(self, *_, **__):
            marks.append(time.perf_counter())

        def on_log(self, _args, _state, _control, logs=None, **__):
            if logs and "num_tokens" in logs:
                tokens.append(logs["num_tokens"])

    trainer = GRPOTrainer(model=model, reward_funcs=verifier_reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Clock()])
    trainer.train()
    times = [b - a for a, b in zip(marks, marks[1:])][args.warmup:]
    rewards = [h.get("reward") for h in trainer.state.log_history if "reward" in h]
    lengths = [h.get("completions/mean_length") for h in trainer.state.log_history if "completions/mean_length" in h]
    print(json.dumps({"step_times": times, "reward": rewards[args.warmup:], "completion_length_mean": lengths[args.warmup:],
                      "trl": __import__("trl").__version__}))


if __name__ == "__main__":
    main()
