"""Held-out evaluation: greedy accuracy and unbiased pass@k.

Sampling draws from its own generator seeded by (run seed, step), so an evaluation neither
consumes nor depends on the training random state: a resumed run evaluates exactly as an
uninterrupted one.
"""

from __future__ import annotations

import torch

from pacslab.config import EvalConfig
from pacslab.metrics import pass_at_k
from pacslab.rollout import generate_rollouts
from pacslab.tasks import Example


def eval_generator(device: torch.device, seed: int, step: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step + 7919)


def evaluate(model, tokenizer, examples: list[Example], verifier, cfg: EvalConfig, *, max_new_tokens: int,
             generator: torch.Generator) -> dict[str, float]:
    """`eval/accuracy` (greedy) and `eval/pass@k` for every k of `cfg.k` over the first `cfg.size` examples."""
    examples = examples[: cfg.size] if cfg.size else examples
    if not examples:
        raise ValueError("the held-out split is empty; raise task.arith.eval_size or add rows to task.eval_file")
    greedy_correct = 0
    pass_sums = dict.fromkeys(cfg.k, 0.0)
    m = cfg.samples
    for start in range(0, len(examples), cfg.batch_prompts):
        chunk = examples[start : start + cfg.batch_prompts]
        prompts = [e.prompt for e in chunk]
        greedy = generate_rollouts(model, tokenizer, prompts, n=1, max_new_tokens=max_new_tokens, temperature=1.0,
                                   top_p=1.0, generator=None, greedy=True)
        greedy_correct += sum(_label(verifier, r, e) for r, e in zip(greedy.response_texts, chunk))
        sampled = generate_rollouts(model, tokenizer, prompts, n=m, max_new_tokens=max_new_tokens,
                                    temperature=cfg.temperature, top_p=1.0, generator=generator)
        for g, example in enumerate(chunk):
            c = sum(_label(verifier, r, example) for r in sampled.response_texts[g * m : (g + 1) * m])
            for k in cfg.k:
                pass_sums[k] += pass_at_k(m, c, k)
    values = {"eval/accuracy": greedy_correct / len(examples)}
    values.update({f"eval/pass@{k}": total / len(examples) for k, total in pass_sums.items()})
    return values


def _label(verifier, response: str, example: Example) -> int:
    return int(verifier(response, example.answer, example.prompt).label)
