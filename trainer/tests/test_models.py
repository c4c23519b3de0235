from pathlib import Path

import pytest
import torch

from pacslab.demo_model import build_model, build_tokenizer
from pacslab.models import ASSETS_DIR, load_policy, resolve_device, resolve_model_path, sequence_logprobs
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
