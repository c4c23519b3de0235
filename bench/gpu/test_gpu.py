"""CUDA checks of the engine, run by bench/gpu-check.sh (`pytest -m gpu`); skipped without CUDA.

The same code on CUDA as on the CPU: the losses agree, log-probabilities agree, and sampling is
reproducible from the caller's generator.
"""

from __future__ import annotations

import pytest
import torch

from pacslab.demo_model import build_model, build_tokenizer
from pacslab.losses import grpo_loss, pacs_loss, rloo_loss
from pacslab.models import sequence_logprobs
from pacslab.rollout import generate_rollouts

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")


def batch(seed: int = 0, groups: int = 4, n: int = 4, length: int = 7):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(groups * n, length, generator=g) * 3  # [B, T]
    old = logp + torch.randn(groups * n, length, generator=g) * 0.05  # [B, T]
    mask = (torch.rand(groups * n, length, generator=g) > 0.2).float()  # [B, T]
    mask[:, 0] = 1
    labels = (torch.rand(groups * n, generator=g) > 0.5).float()  # [B]
    return logp, old, mask, labels, n


@pytest.mark.parametrize("weight_mode", ["question", "none"])
def test_pacs_loss_and_gradient_match_cpu(weight_mode):
    logp, old, mask, labels, n = batch()
    results = []
    for device in ("cpu", CUDA):
        x = logp.detach().clone().to(device).requires_grad_(True)  # a fresh leaf on each device
        loss, _ = pacs_loss(x, old.to(device), mask.to(device), labels.to(device), rollout_n=n, weight_mode=weight_mode)
        loss.backward()
        results.append((loss.detach().cpu(), x.grad.cpu()))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)


def test_grpo_and_rloo_losses_match_cpu():
    logp, old, mask, labels, n = batch(1)
    cpu = (grpo_loss(logp, old, mask, labels, rollout_n=n)[0], rloo_loss(logp, mask, labels, rollout_n=n)[0])
    gpu = (grpo_loss(logp.to(CUDA), old.to(CUDA), mask.to(CUDA), labels.to(CUDA), rollout_n=n)[0],
           rloo_loss(logp.to(CUDA), mask.to(CUDA), labels.to(CUDA), rollout_n=n)[0])
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(a, b.cpu(), rtol=1e-5, atol=1e-6)


def test_rollouts_reproducible_and_logprobs_match_cpu():
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=1, hidden=32, heads=2).to(CUDA)
    prompts = ["12+34=", "7+8=", "100+1="]

    def sample():
        generator = torch.Generator(device=CUDA).manual_seed(5)
        return generate_rollouts(model, tokenizer, prompts, n=4, max_new_tokens=6, temperature=1.0, top_p=1.0, generator=generator)

    first, second = sample(), sample()
    assert torch.equal(first.input_ids, second.input_ids)
    assert first.response_mask.shape == (12, first.response_ids.shape[1])
    assert first.input_ids.device.type == CUDA.type
    with torch.no_grad():
        on_gpu, _ = sequence_logprobs(model, first.input_ids, first.attention_mask, first.response_mask)  # [B, R]
        model_cpu = model.to("cpu")
        on_cpu, _ = sequence_logprobs(model_cpu, first.input_ids.cpu(), first.attention_mask.cpu(), first.response_mask.cpu())
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)
