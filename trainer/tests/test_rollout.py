import pytest
import torch

from pacslab.demo_model import build_model, build_tokenizer
from pacslab.models import ASSETS_DIR, load_policy, position_ids_from_mask
from pacslab.rollout import generate_rollouts, sample_tokens

PROMPTS = ["12+345=", "7+8=", "999+1="]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = build_tokenizer()
    return build_model(tokenizer, seed=1, layers=2, hidden=32, heads=2).eval(), tokenizer


@pytest.fixture(scope="module")
def arith_tiny():
    return load_policy(ASSETS_DIR / "arith-tiny", device=torch.device("cpu"))


def rollouts(model, tokenizer, seed, **overrides):
    kwargs = dict(n=4, max_new_tokens=6, temperature=1.0, top_p=1.0, generator=torch.Generator().manual_seed(seed))
    return generate_rollouts(model, tokenizer, PROMPTS, **{**kwargs, **overrides})


def test_rollouts_are_deterministic_given_the_generator(tiny):
    model, tokenizer = tiny
    torch.manual_seed(0)
    first = rollouts(model, tokenizer, seed=5)
    torch.manual_seed(1)  # the global RNG plays no part
    second = rollouts(model, tokenizer, seed=5)
    assert torch.equal(first.input_ids, second.input_ids) and first.response_texts == second.response_texts
    assert not torch.equal(first.input_ids, rollouts(model, tokenizer, seed=6).input_ids)


def test_rollout_layout(tiny):
    model, tokenizer = tiny
    batch = rollouts(model, tokenizer, seed=0)
    rows = len(PROMPTS) * 4
    assert batch.prompt_index == [row // 4 for row in range(rows)]
    assert batch.input_ids.shape == batch.attention_mask.shape == (rows, batch.prompt_len + batch.response_mask.shape[1])
    prompt_ids = batch.input_ids[:, : batch.prompt_len]
    for row in range(rows):
        text = tokenizer.decode(prompt_ids[row][batch.attention_mask[row, : batch.prompt_len].bool()])
        assert text == PROMPTS[row // 4]
    assert torch.equal(batch.attention_mask[:, batch.prompt_len :], batch.response_mask)


def test_eos_ends_a_row_and_truncation_is_flagged(arith_tiny):
    model, tokenizer = arith_tiny
    # Hot sampling from a model that answers in three digits then EOS: some rows stop early, some
    # run past the limit, some end exactly on it.
    prompts = ["12+34=", "56+78=", "90+19=", "47+47="]
    batch = generate_rollouts(model, tokenizer, prompts, n=8, max_new_tokens=4, temperature=3.0, top_p=1.0, generator=torch.Generator().manual_seed(0))
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    assert any(batch.truncated) and not all(batch.truncated)
    for row, length in enumerate(batch.lengths):
        ids = batch.response_ids[row].tolist()
        assert batch.response_mask[row].tolist() == [1] * length + [0] * (len(ids) - length)
        assert all(t == pad for t in ids[length:])
        assert eos not in ids[: length - 1]
        assert batch.truncated[row] == (ids[length - 1] != eos)
        assert batch.truncated[row] == (length == 4 and ids[3] != eos)
        assert batch.response_tokens[row] == [tokenizer.decode([t]) for t in ids[:length]]
        assert batch.response_texts[row] == tokenizer.decode(ids[:length], skip_special_tokens=True)
        assert "$" not in batch.response_texts[row]


def test_greedy_decoding_agrees_with_a_full_forward_pass(arith_tiny):
    """The cached, left-padded decoding picks each token the uncached model ranks first."""
    model, tokenizer = arith_tiny
    prompts = ["31+42=", "12+45=", "88+99=", "50+77=", "9+8="]
    batch = generate_rollouts(model, tokenizer, prompts, n=1, max_new_tokens=5, temperature=1.0, top_p=1.0, generator=None, greedy=True)
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position_ids_from_mask(batch.attention_mask)).logits
    predicted = logits[:, batch.prompt_len - 1 : -1].argmax(-1)  # [B, R]
    real = batch.response_mask.bool()
    assert torch.equal(predicted[real], batch.response_ids[real])
    assert not any(batch.truncated)


def test_sampling_follows_the_distribution_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    drawn = sample_tokens(logits, temperature=1.0, top_p=1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(drawn, minlength=4).float() / len(drawn)
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03, rtol=0)
    nucleus = sample_tokens(logits, temperature=1.0, top_p=0.7, generator=torch.Generator().manual_seed(0))
    assert set(nucleus.tolist()) == {0, 1}
    sharp = sample_tokens(logits, temperature=0.05, top_p=1.0, generator=torch.Generator().manual_seed(0))
    assert (sharp == 0).float().mean() > 0.99


@pytest.fixture
def two_eos_model():
    """The demo model, its generation_config ending responses at '$' (the tokenizer's EOS) or at '7'."""
    model, tokenizer = load_policy(ASSETS_DIR / "arith-tiny", device=torch.device("cpu"))
    seven = tokenizer.convert_tokens_to_ids("7")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, seven]
    return model, tokenizer, seven


def test_every_eos_id_of_the_generation_config_ends_a_row(two_eos_model):
    model, tokenizer, seven = two_eos_model
    batch = generate_rollouts(model, tokenizer, PROMPTS, n=8, max_new_tokens=12, temperature=2.0, top_p=1.0,
                              generator=torch.Generator().manual_seed(3))
    ends = [batch.response_ids[row, length - 1].item() for row, length in enumerate(batch.lengths)]
    assert seven in ends  # some rows stopped at the second end token...
    for row, length in enumerate(batch.lengths):
        ids = batch.response_ids[row, :length].tolist()
        assert not {tokenizer.eos_token_id, seven} & set(ids[:-1])  # ...and none ran past one
        assert batch.truncated[row] == (ids[-1] not in (tokenizer.eos_token_id, seven))


def test_finished_rows_leave_the_decode_batch_and_chunks_change_no_greedy_token(two_eos_model, monkeypatch):
    model, tokenizer, _ = two_eos_model
    prompts = ["31+42=", "11+22=", "88+99=", "50+27=", "9+8=", "23+14="]  # 073, 033, 187, 077, 017, 037: 7 ends them early
    sizes = []
    forward = type(model).forward
    monkeypatch.setattr(type(model), "forward", lambda self, *a, **k: sizes.append(k["input_ids"].shape[0]) or forward(self, *a, **k))
    whole = generate_rollouts(model, tokenizer, prompts, n=1, max_new_tokens=16, temperature=1.0, top_p=1.0,
                              generator=None, greedy=True)
    decode_sizes = sizes[1:]
    assert decode_sizes == sorted(decode_sizes, reverse=True) and decode_sizes[-1] < len(prompts)
    assert len(set(whole.lengths)) > 1  # rows ended at different steps
    for chunk in (1, 2, 4):
        chunked = generate_rollouts(model, tokenizer, prompts, n=1, max_new_tokens=16, temperature=1.0, top_p=1.0,
                                    generator=None, greedy=True, batch_prompts=chunk)
        assert chunked.response_texts == whole.response_texts and chunked.lengths == whole.lengths
        assert torch.equal(chunked.input_ids, whole.input_ids) and torch.equal(chunked.response_mask, whole.response_mask)
    # the rows that kept decoding after others left still pick what the uncached model ranks first
    with torch.no_grad():
        logits = forward(model, input_ids=whole.input_ids, attention_mask=whole.attention_mask,
                         position_ids=position_ids_from_mask(whole.attention_mask)).logits
    predicted = logits[:, whole.prompt_len - 1 : -1].argmax(-1)  # [B, R]
    real = whole.response_mask.bool()
    assert torch.equal(predicted[real], whole.response_ids[real])


def test_batch_prompts_must_be_positive(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="rollout.batch_prompts"):
        rollouts(model, tokenizer, seed=0, batch_prompts=0)


def test_the_preallocated_cache_holds_what_concatenation_would():
    from pacslab.models import preallocated_layer

    layer = preallocated_layer()(capacity=7)
    grown = []
    torch.manual_seed(0)
    for width in (3, 1, 1):
        k, v = torch.randn(2, 2, width, 4), torch.randn(2, 2, width, 4)
        keys, values = layer.update(k, v)
        grown.append((k, v))
        assert torch.equal(keys, torch.cat([g[0] for g in grown], dim=2))
        assert torch.equal(values, torch.cat([g[1] for g in grown], dim=2))
    assert layer.get_seq_length() == 5
    layer.batch_repeat_interleave(3)  # [6, 2, 5, 4]: rows 0,0,0,1,1,1
    assert torch.equal(layer.keys, torch.cat([g[0] for g in grown], dim=2).repeat_interleave(3, dim=0))
    layer.batch_select_indices(torch.tensor([1, 4]))
    k, v = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)
    keys, _ = layer.update(k, v)
    assert torch.equal(keys, torch.cat([torch.cat([g[0] for g in grown], dim=2), k], dim=2))
    layer.crop(-2)
    assert layer.get_seq_length() == 4 and layer.keys.shape[2] == 4
    layer.update(*(torch.randn(2, 2, 3, 4),) * 2)
    with pytest.raises(ValueError, match="holds 7 positions and 8 were written"):
        layer.update(k, v)


@pytest.mark.parametrize("greedy", [True, False])
def test_preallocated_and_concatenated_caches_decode_the_same_tokens(two_eos_model, monkeypatch, greedy):
    """Left-padded prompts, n > 1 (the cache repeated) and rows that end early (the cache shrinks)."""
    from pacslab import models, rollout
    from pacslab.models import preallocated_layer

    model, tokenizer, _ = two_eos_model
    prompts = ["31+42=", "1+2=", "88+99=", "50+27="]
    kwargs = dict(n=3, max_new_tokens=10, temperature=1.5, top_p=0.9, greedy=greedy)
    made = []
    monkeypatch.setattr(rollout, "new_cache", lambda m, capacity=None: made.append(models.new_cache(m, capacity)) or made[-1])
    preallocated = generate_rollouts(model, tokenizer, prompts, generator=torch.Generator().manual_seed(4), **kwargs)
    assert made and all(isinstance(layer, preallocated_layer()) for layer in made[0].layers)
    monkeypatch.setattr(rollout, "new_cache", lambda m, capacity=None: models.new_cache(m))
    concatenated = generate_rollouts(model, tokenizer, prompts, generator=torch.Generator().manual_seed(4), **kwargs)
    assert len(set(preallocated.lengths)) > 1  # some rows left the batch early
    assert torch.equal(preallocated.input_ids, concatenated.input_ids)
    assert preallocated.response_texts == concatenated.response_texts
