"""Batched sampling of n responses per prompt with a preallocated KV cache and an explicit random generator.

The prompts decode in chunks of whole groups (`batch_prompts` prompts × n samples each; all at
once by default): a chunk's prompts are prefilled once, the cache is repeated n times, and each
step feeds one token per unfinished row, its keys and values written in place into buffers sized
for the prompt and max_new_tokens (no copy of the cache per token). A row that emits an end token
(any of the tokenizer's and the model's `generation_config` EOS ids) leaves the decode batch and
its cache rows are dropped, so a long tail of a few long responses costs only their own rows.
Sampling draws its uniforms from the caller's `torch.Generator` (inverse-CDF sampling, one uniform
per row of the chunk and step, finished or not), never from the global RNG, so a run resumed from
a checkpoint that saved the generator's state samples exactly the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


def sample_tokens(logits: torch.Tensor, *, temperature: float, top_p: float, generator: torch.Generator | None,
                  uniform: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row of `logits` [N, V] by inverse-CDF sampling with `uniform` [N, 1], else
    uniforms drawn from `generator`."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [N, V]
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        mass_before = probs.cumsum(-1) - probs
        probs = probs.masked_fill(mass_before >= top_p, 0.0)
    cdf = probs.cumsum(-1)  # [N, V]
    if uniform is None:
        uniform = _uniforms(probs.shape[0], generator, probs.device)  # [N, 1]
    picked = torch.searchsorted(cdf, uniform * cdf[:, -1:], right=True).clamp(max=probs.shape[-1] - 1)  # [N, 1]
    if order is not None:
        picked = order.gather(-1, picked)
    return picked.squeeze(-1)  # [N]


def _uniforms(rows: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(rows, 1, generator=generator, device=gen_device).to(device)  # [rows, 1]


def eos_token_ids(model, tokenizer) -> list[int]:
    """Every id that ends a response: the tokenizer's EOS and those of the model's generation_config
    (an int or a list there; chat models often end turns with a second one)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, (list, tuple)):
        ids.update(int(i) for i in configured)
    return sorted(i for i in ids if i is not None)


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
    batch_prompts: int | None = None,
) -> RolloutBatch:
    """`n` responses to each prompt, decoded `batch_prompts` prompts (whole groups) at a time, all at
    once when None. An end token ends a row; later tokens are padding."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens is {max_new_tokens}: use 1 or more (rollout.max_new_tokens)")
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature is {temperature}: use a value above 0, or greedy decoding")
    if batch_prompts is not None and batch_prompts < 1:
        raise ValueError(f"batch_prompts is {batch_prompts}: use 1 or more (rollout.batch_prompts), or null for all")
    was_training = model.training
    set_training(model, False)
    device = next(model.parameters()).device
    eos = torch.tensor(eos_token_ids(model, tokenizer), device=device)
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, device)  # [G, P]
    # Decided once for the whole batch, so a chunk runs exactly the computation it would unchunked.
    padded = not bool(prompt_mask.all())
    chunk = batch_prompts or len(prompts)
    pieces = [_decode(model, prompt_ids[a : a + chunk], prompt_mask[a : a + chunk], n=n, padded=padded, eos=eos,
                      pad_id=tokenizer.pad_token_id, max_new_tokens=max_new_tokens, temperature=temperature,
                      top_p=top_p, generator=generator, greedy=greedy)
              for a in range(0, len(prompts), chunk)]
    width = max(ids.shape[1] for ids, _ in pieces)
    response_ids = torch.cat([F.pad(ids, (0, width - ids.shape[1]), value=tokenizer.pad_token_id)
                              for ids, _ in pieces])  # [G*n, R]
    response_mask = torch.cat([F.pad(m, (0, width - m.shape[1])) for _, m in pieces])  # [G*n, R]
    set_training(model, was_training)
    return _assemble(tokenizer, prompt_ids.repeat_interleave(n, dim=0), prompt_mask.repeat_interleave(n, dim=0),
                     response_ids, response_mask, n, eos.tolist())


def _decode(model, prompt_ids, prompt_mask, *, n, padded, eos, pad_id, max_new_tokens, temperature, top_p,
            generator, greedy) -> tuple[torch.Tensor, torch.Tensor]:
    """(response_ids, response_mask) [g*n, r] of one chunk of whole groups."""
    device = prompt_ids.device
    # the prompt and every fed token (the last one picked is never fed), written in place
    cache = new_cache(model, capacity=prompt_ids.shape[1] + max_new_tokens - 1)
    forward_kwargs = {cache_kwarg(model): cache, "use_cache": True}
    keep = keep_logits_kwarg(model)
    if keep is not None:
        forward_kwargs[keep] = 1
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)  # [g, P]
    # Without left padding no mask is needed at all: a row's tokens after its EOS are padding that no
    # real token attends to (attention is causal), so skipping the mask changes no real token's logits.
    logits = model(input_ids=prompt_ids, attention_mask=prompt_mask if padded else None, position_ids=positions,
                   **forward_kwargs).logits[:, -1]  # [g, V]
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits = logits.repeat_interleave(n, dim=0)  # [g*n, V]
    rows = logits.shape[0]
    mask = prompt_mask.repeat_interleave(n, dim=0)  # [a, P+t]: the rows still decoding
    next_position = positions[:, -1:].repeat_interleave(n, dim=0) + 1  # [a, 1]
    active = torch.arange(rows, device=device)  # [a]: batch row of each decoding row
    tokens = []
    for step in range(max_new_tokens):
        uniform = None if greedy else _uniforms(rows, generator, device)[active]  # [a, 1]
        if greedy:
            picked = logits.argmax(-1)  # [a]
        else:
            picked = sample_tokens(logits, temperature=temperature, top_p=top_p, generator=generator, uniform=uniform)
        token = torch.full((rows,), pad_id, dtype=torch.long, device=device)
        token[active] = picked
        tokens.append(token)
        going = ~torch.isin(picked, eos)  # [a]
        if step == max_new_tokens - 1 or not bool(going.any()):
            break
        if not bool(going.all()):  # finished rows leave the batch, their cache rows with them
            keep_rows = going.nonzero().squeeze(1)  # [a']
            cache.batch_select_indices(keep_rows)
            active, picked = active[keep_rows], picked[keep_rows]
            mask, next_position = mask[keep_rows], next_position[keep_rows]
        if padded:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # [a, P+step+1]
        logits = model(input_ids=picked.unsqueeze(1), attention_mask=mask if padded else None,
                       position_ids=next_position, **forward_kwargs).logits[:, -1]  # [a, V]
        next_position = next_position + 1
    response_ids = torch.stack(tokens, dim=1)  # [g*n, r]
    ended = torch.isin(response_ids, eos).long()  # [g*n, r]
    # a token is real up to and including the row's first end token
    response_mask = ((ended.cumsum(1) - ended) == 0).long()  # [g*n, r]
    return response_ids, response_mask


def _assemble(tokenizer, prompt_ids, prompt_mask, response_ids, response_mask, n: int, eos_ids: list[int]) -> RolloutBatch:
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
        truncated=[not ids or ids[-1] not in eos_ids for ids in real],
        prompt_index=[row // n for row in range(len(real))],
    )
