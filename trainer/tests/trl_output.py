"""A real TRL output directory: a 2-step GRPOTrainer run of the tiny demo model on the CPU, with
checkpoints each step and log_completions. Used by test_interop.py and the e2e import stage:
`python trainer/tests/trl_output.py OUT_DIR`."""

from __future__ import annotations

import sys
from pathlib import Path


def write_trl_output(out: Path, *, extra_reward: bool = False, report_to: str = "tensorboard") -> Path:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from pacslab.demo_model import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.padding_side = "left"
    model = build_model(tokenizer, seed=0, layers=1, hidden=32, heads=2)
    dataset = Dataset.from_list([{"prompt": f"{a}+{b}=", "answer": str(a + b)} for a in range(4) for b in range(4)])

    def exact_reward(prompts, completions, answer, **_):
        return [float(c.strip().startswith(a)) for c, a in zip(completions, answer)]

    def length_reward(prompts, completions, **_):
        return [-0.1 * len(c) for c in completions]

    args = GRPOConfig(output_dir=str(out), per_device_train_batch_size=4, num_generations=2, max_completion_length=4,
                      max_steps=2, logging_steps=1, report_to=report_to, save_strategy="steps", save_steps=1,
                      use_cpu=True, bf16=False, seed=0, log_completions=True, disable_tqdm=True, learning_rate=1e-3)
    GRPOTrainer(model=model, reward_funcs=[exact_reward, length_reward] if extra_reward else exact_reward, args=args,
                train_dataset=dataset, processing_class=tokenizer).train()
    return out


if __name__ == "__main__":
    write_trl_output(Path(sys.argv[1]))
