from pathlib import Path

import pytest
import torch

from pacslab.demo_model import build_model, build_tokenizer
from pacslab.models import (ASSETS_DIR, can_share_prompts, enable_checkpointing, grouped_sequence_logprobs, load_policy, resolve_device,
                            resolve_model_path, sequence_logprobs)
from pacslab.rollout import encode_prompts

ARITH_TINY = ASSETS_DIR / "arith-tiny"


@pytest.fixture(scope="module")
def tiny():
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=2, hidden=32, heads=2).eval()
    return model, tokenizer


def batch_of(tokenizer, prompts, responses):
    """Left-padded prompts followed by right-padded responses, as the rollout builds them."""
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, torch.device("cpu"))
    width = max(len(r) for r in responses)
    response_ids = torch.full((len(responses), width), tokenizer.pad_token_id)
    response_mask = torch.zeros((len(responses), width), dtype=torch.long)
    for row, text in enumerate(responses):
        ids = tokenizer(text)["input_ids"]
        response_ids[row, : len(ids)] = torch.tensor(ids)
        response_mask[row, : len(ids)] = 1
    return torch.cat([prompt_ids, response_ids], 1), torch.cat([prompt_mask, response_mask], 1), response_mask


def naive_logprobs(model, tokenizer, prompt, response):
    """Log-probs and entropies of one response on its own, no padding, full logits."""
    p, r = tokenizer(prompt)["input_ids"], tokenizer(response)["input_ids"]
    logits = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : -1]  # [R, V]
    logp = torch.log_softmax(logits, -1)
    return logp.gather(-1, torch.tensor(r).unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


def test_sequence_logprobs_match_per_row_computation(tiny):
    model, tokenizer = tiny
    prompts = ["12+345=", "7+8=", "999+1=", "3="]
    responses = ["357$", "15$", "1000$", "3"]
    input_ids, attention_mask, response_mask = batch_of(tokenizer, prompts, responses)
    with torch.no_grad():
        logp, entropy = sequence_logprobs(model, input_ids, attention_mask, response_mask, return_entropy=True)
        assert logp.shape == response_mask.shape == entropy.shape
        for row, (prompt, response) in enumerate(zip(prompts, responses)):
            expected_logp, expected_entropy = naive_logprobs(model, tokenizer, prompt, response)
            length = len(expected_logp)
            torch.testing.assert_close(logp[row, :length], expected_logp, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(entropy[row, :length], expected_entropy, atol=1e-5, rtol=1e-5)
            assert torch.all(logp[row, length:] == 0) and torch.all(entropy[row, length:] == 0)


def test_sequence_logprobs_ignore_extra_padding_and_carry_gradient(tiny):
    model, tokenizer = tiny
    input_ids, attention_mask, response_mask = batch_of(tokenizer, ["1+2="], ["3$"])
    pad = tokenizer.pad_token_id
    padded_ids = torch.cat([torch.full((1, 5), pad), input_ids, torch.full((1, 3), pad)], 1)
    padded_mask = torch.cat([torch.zeros(1, 5, dtype=torch.long), attention_mask, torch.zeros(1, 3, dtype=torch.long)], 1)
    padded_response_mask = torch.cat([response_mask, torch.zeros(1, 3, dtype=torch.long)], 1)
    logp, _ = sequence_logprobs(model, input_ids, attention_mask, response_mask)
    padded, _ = sequence_logprobs(model, padded_ids, padded_mask, padded_response_mask)
    torch.testing.assert_close(padded[:, :2], logp, atol=1e-5, rtol=1e-5)
    padded.sum().backward()
    assert model.model.embed_tokens.weight.grad is not None
    model.zero_grad(set_to_none=True)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda:0")


def test_resolve_model_path(tmp_path):
    assert resolve_model_path("builtin:arith-tiny", base_dir=tmp_path) == ARITH_TINY
    with pytest.raises(ValueError, match=r"model.path is 'builtin:nope'.*builtin:arith-tiny"):
        resolve_model_path("builtin:nope", base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"model.path is 'models/x': directory not found"):
        resolve_model_path("models/x", base_dir=tmp_path)
    (tmp_path / "models" / "x").mkdir(parents=True)
    with pytest.raises(ValueError, match="no config.json"):
        resolve_model_path("models/x", base_dir=tmp_path)
    (tmp_path / "models" / "x" / "config.json").write_text("{}")
    assert resolve_model_path("models/x", base_dir=tmp_path) == tmp_path / "models" / "x"


def test_committed_model_loads_and_round_trips_text():
    model, tokenizer = load_policy(ARITH_TINY, device=torch.device("cpu"))
    assert next(model.parameters()).dtype == torch.float32
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.eos_token) == (0, 1, "$")
    assert tokenizer.padding_side == "left"
    ids = tokenizer("123+45=168$")["input_ids"]
    assert len(ids) == 11 and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids) == "123+45=168$"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "123+45=168"
    assert tokenizer.convert_ids_to_tokens(tokenizer("a")["input_ids"]) == ["<unk>"]
    assert Path(ARITH_TINY / "model.safetensors").stat().st_size <= 5 * 2**20


def grouped_batch(tokenizer, prompts, responses_per_prompt):
    """Rollout-shaped batch: each prompt repeated once per response, rows g*n .. g*n+n-1 for prompt g."""
    rows_prompts = [p for p, rs in zip(prompts, responses_per_prompt) for _ in rs]
    rows_responses = [r for rs in responses_per_prompt for r in rs]
    return batch_of(tokenizer, rows_prompts, rows_responses)


def both_routes(model, input_ids, attention_mask, response_mask, n, device="cpu"):
    """(logp, entropy, gradients) of the one-pass route and of the shared-prompt route."""
    prompt_len = input_ids.shape[1] - response_mask.shape[1]
    input_ids, attention_mask, response_mask = (t.to(device) for t in (input_ids, attention_mask, response_mask))
    out = []
    for shared in (False, True):
        model.zero_grad(set_to_none=True)
        if shared:
            logp, entropy = grouped_sequence_logprobs(model, input_ids[::n, :prompt_len], attention_mask[::n, :prompt_len],
                                                      input_ids[:, prompt_len:], response_mask, n=n, return_entropy=True)
        else:
            logp, entropy = sequence_logprobs(model, input_ids, attention_mask, response_mask, return_entropy=True)
        # a loss that weighs every token differently, so a wrong routing of gradients shows
        weights = torch.arange(1, logp.numel() + 1, device=logp.device, dtype=logp.dtype).reshape(logp.shape)
        (logp * weights / logp.numel()).sum().backward()
        out.append((logp.detach(), entropy, [p.grad.detach().clone() for p in model.parameters()]))
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("prompts", [["12+345=", "7+8=", "3="], ["12+34=", "56+78=", "90+12="]], ids=["left-padded", "same-length"])
def test_shared_prompt_route_gives_the_one_pass_logprobs_and_gradient(tiny, prompts):
    model, tokenizer = tiny
    responses = [["357$", "35$", "3"], ["15$", "150$", "1$"], ["3$", "33", "$"]]  # EOS at different places, one cut short
    input_ids, attention_mask, response_mask = grouped_batch(tokenizer, prompts, responses)
    (logp, entropy, grads), (shared_logp, shared_entropy, shared_grads) = both_routes(model, input_ids, attention_mask, response_mask, n=3)
    torch.testing.assert_close(shared_logp, logp, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(shared_entropy, entropy, atol=1e-6, rtol=1e-5)
    assert torch.all(shared_logp[response_mask == 0] == 0)
    for got, expected in zip(shared_grads, grads):
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-4)


def test_shared_prompt_route_with_one_token_responses_and_bad_groups(tiny):
    model, tokenizer = tiny
    input_ids, attention_mask, response_mask = grouped_batch(tokenizer, ["1+2=", "10+20="], [["3", "$"], ["$", "4"]])
    (logp, _, _), (shared_logp, _, _) = both_routes(model, input_ids, attention_mask, response_mask, n=2)
    torch.testing.assert_close(shared_logp, logp, atol=1e-6, rtol=1e-5)
    prompt_len = input_ids.shape[1] - 1
    with pytest.raises(ValueError, match="groups were split or mixed"):
        grouped_sequence_logprobs(model, input_ids[::2, :prompt_len], attention_mask[::2, :prompt_len],
                                  input_ids[:3, prompt_len:], response_mask[:3], n=2)


def test_gradient_checkpointing_turns_prompt_sharing_off():
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=1, hidden=16, heads=2)
    assert can_share_prompts(model)
    enable_checkpointing(model)
    assert not can_share_prompts(model)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-4), (torch.bfloat16, 0.1)])
def test_shared_prompt_route_on_cuda(dtype, atol):
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=2, hidden=64, heads=4).to("cuda", dtype)
    prompts = ["12+345=", "7+8=", "3="]
    responses = [["357$", "35$", "3"], ["15$", "150$", "1$"], ["3$", "33", "$"]]
    input_ids, attention_mask, response_mask = grouped_batch(tokenizer, prompts, responses)
    (logp, _, grads), (shared_logp, _, shared_grads) = both_routes(model, input_ids, attention_mask, response_mask, n=3, device="cuda")
    torch.testing.assert_close(shared_logp, logp, atol=atol, rtol=0.05)
    cosine = torch.nn.functional.cosine_similarity(torch.cat([g.float().flatten() for g in shared_grads]),
                                                   torch.cat([g.float().flatten() for g in grads]), dim=0)
    assert cosine > 0.999 if dtype == torch.float32 else cosine > 0.98


# ---------- temperature and chunking ----------

def naive_tempered(model, tokenizer, prompt, response, temperature):
    """log softmax(logits / T) of one response on its own, from the model's full logits."""
    p, r = tokenizer(prompt)["input_ids"], tokenizer(response)["input_ids"]
    logits = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : -1].float() / temperature  # [R, V]
    logp = torch.log_softmax(logits, -1)
    return logp.gather(-1, torch.tensor(r).unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


@pytest.mark.parametrize("shared", [False, True], ids=["one-pass", "shared-prompt"])
def test_logprobs_are_those_of_the_tempered_distribution(tiny, shared):
    model, tokenizer = tiny
    prompts, responses = ["12+345=", "7+8="], [["357$", "3"], ["15$", "150$"]]
    input_ids, attention_mask, response_mask = grouped_batch(tokenizer, prompts, responses)
    prompt_len = input_ids.shape[1] - response_mask.shape[1]
    with torch.no_grad():
        if shared:
            logp, entropy = grouped_sequence_logprobs(model, input_ids[::2, :prompt_len], attention_mask[::2, :prompt_len],
                                                      input_ids[:, prompt_len:], response_mask, n=2,
                                                      return_entropy=True, temperature=0.5)
        else:
            logp, entropy = sequence_logprobs(model, input_ids, attention_mask, response_mask, return_entropy=True,
                                              temperature=0.5)
        untempered, _ = sequence_logprobs(model, input_ids, attention_mask, response_mask)
        for row, (prompt, response) in enumerate((p, r) for p, group in zip(prompts, responses) for r in group):
            expected_logp, expected_entropy = naive_tempered(model, tokenizer, prompt, response, 0.5)
            length = len(expected_logp)
            torch.testing.assert_close(logp[row, :length], expected_logp, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(entropy[row, :length], expected_entropy, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logp, untempered)  # T = 0.5 is another distribution


@pytest.mark.parametrize("shared", [False, True], ids=["one-pass", "shared-prompt"])
def test_chunked_logprobs_entropy_and_gradient_agree_with_one_chunk(tiny, shared):
    """Chunks of 1, 3 and 5 token positions (checkpointed under a gradient) against one chunk."""
    model, tokenizer = tiny
    prompts, responses = ["12+345=", "7+8=", "3="], [["357$", "35$", "3"], ["15$", "150$", "1$"], ["3$", "33", "$"]]
    input_ids, attention_mask, response_mask = grouped_batch(tokenizer, prompts, responses)
    prompt_len = input_ids.shape[1] - response_mask.shape[1]
    rows = input_ids.shape[0]

    def run(chunk_tokens):
        model.zero_grad(set_to_none=True)
        options = {"return_entropy": True, "temperature": 0.7, "chunk_tokens": chunk_tokens}
        if shared:
            logp, entropy = grouped_sequence_logprobs(model, input_ids[::3, :prompt_len], attention_mask[::3, :prompt_len],
                                                      input_ids[:, prompt_len:], response_mask, n=3, **options)
        else:
            logp, entropy = sequence_logprobs(model, input_ids, attention_mask, response_mask, **options)
        weights = torch.arange(1, logp.numel() + 1, dtype=logp.dtype).reshape(logp.shape)
        (logp * weights / logp.numel()).sum().backward()
        return logp.detach(), entropy, [p.grad.clone() for p in model.parameters()]

    logp, entropy, grads = run(10_000)
    for positions in (1, 3, 5):
        chunked_logp, chunked_entropy, chunked_grads = run(positions * rows)
        assert (chunked_logp - logp).abs().max().item() <= 1e-6
        assert (chunked_entropy - entropy).abs().max().item() <= 1e-6
        for got, expected in zip(chunked_grads, grads):
            assert (got - expected).abs().max().item() <= 1e-6
    model.zero_grad(set_to_none=True)


def test_chunks_never_hold_the_full_logits(tiny, monkeypatch):
    """Each chunk's logits cover at most `chunk_tokens` positions (the [B, R, V] never exists)."""
    import pacslab.models as models

    model, tokenizer = tiny
    input_ids, attention_mask, response_mask = batch_of(tokenizer, ["12+345=", "7+8="], ["357$", "15$"])
    seen = []
    real = models._piece_logprobs
    monkeypatch.setattr(models, "_piece_logprobs", lambda logits, *a: seen.append(logits.shape) or real(logits, *a))
    with torch.no_grad():
        sequence_logprobs(model, input_ids, attention_mask, response_mask, chunk_tokens=4)
    assert len(seen) == 2 and all(rows * positions <= 4 for rows, positions, _ in seen)
