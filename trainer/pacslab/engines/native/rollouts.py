"""A native step's rollouts: one round of sampled and verified responses, or rounds of them until
the batch holds mixed groups with `rollout.dynamic_sampling` (pacslab/dynamic_sampling.py)."""

from __future__ import annotations

import time

from pacslab.dynamic_sampling import sample_step
from pacslab.rollout import RolloutBatch, generate_rollouts
from pacslab.tasks import verify_items


def step_rollouts(t) -> tuple[list, RolloutBatch, list, dict, list, float]:
    """(examples, batch, verdicts, sampling metrics, dropped, generation seconds) of the loop `t`'s
    step; `dropped`: (example, correct samples) of each group dynamic sampling left out."""
    cfg, seconds = t.cfg, [0.0]

    def draw():
        start = time.perf_counter()
        examples = t.sampler.next_batch()
        with t._compute():
            batch = generate_rollouts(t.model, t.tokenizer, [e.prompt_ids for e in examples], n=t.n,
                                      max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
                                      top_p=cfg.rollout.top_p, generator=t.generator,
                                      batch_prompts=cfg.rollout.batch_prompts)
        seconds[0] += time.perf_counter() - start
        verdicts = t.verifier.verify(verify_items(examples, batch.response_texts, batch.prompt_index))
        return examples, batch, verdicts

    examples, batch, verdicts, metrics, dropped = sample_step(draw, cfg.rollout, n=t.n, pad_id=t.tokenizer.pad_token_id)
    return examples, batch, verdicts, metrics, dropped, seconds[0]
