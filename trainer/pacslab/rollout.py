"""Batched sampling of n responses per prompt with a KV cache and an explicit random generator.

All prompts × n samples decode together in one loop: the prompts are prefilled once, the cache is
repeated n times, and each step feeds one token per row. Sampling draws its uniforms from the
caller's `torch.Generator` (inverse-CDF sampling), never from the global RNG, so a run resumed
from a checkpoint that saved the generator's state samples exactly the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pacslab.models import cache_kwarg, keep_logits_kwarg, new_cache, set_training


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # [B, P+R] left-padded prompt, then the response padded on the right
    attention_mask: torch.Tensor  # [B, P+R]
    response_mask: torch.Tensor  # [B, R] 1 for real response tokens, EOS included
    prompt_len: int  # P
    response_texts: list[str]  # special tokens stripped
    response_tokens: list[list[str]]  # one string per real response token
    lengths: list[int]
    truncated: list[bool]  # no EOS within max_new_tokens
    prompt_index: list[int]  # rows g*n .. g*n+n-1 answer prompt g

    @property
    def response_ids(self) -> torch.Tensor:
        return self.input_ids[:, self.prompt_len :]  # [B, R]


def encode_prompts(tokenizer, prompts: list, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and attention mask, [B, P] each. A prompt is a string, or its token ids
    already (a chat prompt rendered by `tasks.encode_examples`)."""
    encoded = [tokenizer(p)["input_ids"] if isinstance(p, str) else list(p) for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ValueError("a prompt encodes to no tokens; check the task's prompts and template")
    width = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, tokens in enumerate(encoded):
        ids[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
        mask[row, width - len(tokens) :] = 1
    return ids.to(device), mask.to(device)


def sample_tokens(logits: torch.Tensor, *, temperature: float, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of `logits` [N, V] by inverse-CDF sampling with uniforms from `generator`."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [N, V]
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        mass_before = probs.cumsum(-1) - probs
        probs = probs.masked_fill(mass_before >= top_p, 0.0)
    cdf = probs.cumsum(-1)  # [N, V]
    gen_device = generator.device if generator is not None else torch.device("cpu")
    uniform = torch.rand(probs.shape[0], 1, generator=generator, device=gen_device).to(probs.device)  # [N, 1]
    picked = torch.searchsorted(cdf, uniform * cdf[:, -1:], right=True).clamp(max=probs.shape[-1] - 1)  # [N, 1]
    if order is not None:
        picked = order.gather(-1, picked)
    return picked.squeeze(-1)  # [N]


@torch.no_grad()
def generate_rollouts(
    model,
    tokenizer,
    prompts: list,
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
    greedy: bool = False,
) -> RolloutBatch:
    """`n` responses to each prompt, all decoded in one batch. EOS ends a row; later tokens are padding."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens is {max_new_tokens}: use 1 or more (rollout.max_new_tokens)")
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature is {temperature}: use a value above 0, or greedy decoding")
    was_training = model.training
    set_training(model, False)
    device = next(model.parameters()).device
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, device)  # [G, P]
    cache = new_cache(model)
    forward_kwargs = {cache_kwarg(model): cache, "use_cache": True}
    keep = keep_logits_kwarg(model)
    if keep is not None:
        forward_kwargs[keep] = 1
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)  # [G, P]
    # Without left padding no mask is needed at all: a row's tokens after its EOS are padding that no
    # real token attends to (attention is causal), so skipping the mask changes no real token's logits.
    padded = not bool(prompt_mask.all())
    logits = model(input_ids=prompt_ids, attention_mask=prompt_mask if padded else None, position_ids=positions,
                   **forward_kwargs).logits[:, -1]  # [G, V]
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits = logits.repeat_interleave(n, dim=0)  # [G*n, V]
    mask = prompt_mask.repeat_interleave(n, dim=0)  # [G*n, P]
    next_position = positions[:, -1:].repeat_interleave(n, dim=0) + 1  # [G*n, 1]
    finished = torch.zeros(mask.shape[0], dtype=torch.bool, device=device)
    tokens, alive = [], []
    for step in range(max_new_tokens):
        if greedy:
            token = logits.argmax(-1)  # [G*n]
        else:
            token = sample_tokens(logits, temperature=temperature, top_p=top_p, generator=generator)
        token = token.masked_fill(finished, pad_id)
        tokens.append(token)
        alive.append(~finished)
        finished = finished | (token == eos_id)
        if step == max_new_tokens - 1 or bool(finished.all()):
            break
        # Rows already done feed padding, masked out; the EOS that ends a row is a real token.
        if padded:
            mask = torch.cat([mask, alive[-1].long().unsqueeze(1)], dim=1)  # [G*n, P+step+1]
        logits = model(input_ids=token.unsqueeze(1), attention_mask=mask if padded else None, position_ids=next_position,
                       **forward_kwargs).logits[:, -1]
        next_position = next_position + 1
    response_ids = torch.stack(tokens, dim=1)  # [G*n, R]
    response_mask = torch.stack(alive, dim=1).long()  # [G*n, R]
    set_training(model, was_training)
    return _assemble(tokenizer, prompt_ids.repeat_interleave(n, dim=0), prompt_mask.repeat_interleave(n, dim=0), response_ids, response_mask, n)


def _assemble(tokenizer, prompt_ids, prompt_mask, response_ids, response_mask, n: int) -> RolloutBatch:
    eos_id = tokenizer.eos_token_id
    lengths = response_mask.sum(-1).tolist()
    id_rows = response_ids.tolist()
    real = [ids[:length] for ids, length in zip(id_rows, lengths)]
    token_text = {t: tokenizer.decode([t]) for t in {t for ids in real for t in ids}}
    return RolloutBatch(
        input_ids=torch.cat([prompt_ids, response_ids], dim=1),
        attention_mask=torch.cat([prompt_mask, response_mask], dim=1),
        response_mask=response_mask,
        prompt_len=prompt_ids.shape[1],
        response_texts=tokenizer.batch_decode(real, skip_special_tokens=True),
        response_tokens=[[token_text[t] for t in ids] for ids in real],
        lengths=lengths,
        truncated=[not ids or ids[-1] != eos_id for ids in real],
        prompt_index=[row // n for row in range(len(real))],
    )
