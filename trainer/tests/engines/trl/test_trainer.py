"""PacsGRPOTrainer reads the algorithm registry: whose advantages a scored batch carries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("trl")

from trl import GRPOTrainer  # noqa: E402

from pacslab.engines.trl.trainer import GROUPS, LABELS, PacsGRPOTrainer  # noqa: E402
from pacslab.losses import rloo_advantages  # noqa: E402

TRL_ADVANTAGES = torch.full((4,), 7.0)  # what the stubbed TRL scoring returns for this rank's rows


def scored(monkeypatch, algorithm: str, labels: list[float], *, rank: int, world: int) -> dict:
    """One scored batch of a PacsGRPOTrainer on `rank` of `world`, with TRL's own scoring stubbed:
    its global batch's labels are `labels`, groups of 4, and its advantages TRL_ADVANTAGES."""
    monkeypatch.setattr(GRPOTrainer, "__init__", lambda self, *a, **k: None)
    rows = len(labels) // world
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions",
                        lambda self, inputs: {"completion_ids": torch.zeros(rows, 3, dtype=torch.long),
                                              "advantages": TRL_ADVANTAGES[:rows].clone()})
    trainer = PacsGRPOTrainer(algorithm=algorithm)
    trainer.num_generations = 4
    trainer.accelerator = SimpleNamespace(process_index=rank)
    trainer.model = SimpleNamespace(training=True)
    trainer._global_labels = torch.tensor(labels)
    return trainer._generate_and_score_completions([])


LABELS_8 = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]  # two groups of 4


def test_rloo_replaces_trls_advantages_with_the_leave_one_out_ones_of_this_ranks_rows(monkeypatch):
    out = scored(monkeypatch, "rloo", LABELS_8, rank=1, world=2)
    expected = rloo_advantages(torch.tensor(LABELS_8), rollout_n=4)[4:]
    torch.testing.assert_close(out["advantages"], expected.to(torch.float32))
    assert out[LABELS].tolist() == LABELS_8[4:] and out[GROUPS].tolist() == [1, 1, 1, 1]


def test_grpo_keeps_trls_own_advantages(monkeypatch):
    out = scored(monkeypatch, "grpo", LABELS_8, rank=0, world=2)
    torch.testing.assert_close(out["advantages"], TRL_ADVANTAGES)
    assert out[LABELS].tolist() == LABELS_8[:4] and "pacs_c" not in out


def test_an_algorithm_engine_trl_does_not_run_is_refused(monkeypatch):
    monkeypatch.setattr(GRPOTrainer, "__init__", lambda self, *a, **k: None)
    with pytest.raises(ValueError, match="engine: trl runs pacs, grpo, rloo"):
        PacsGRPOTrainer(algorithm="dr_grpo")


MINI_LENGTHS = torch.tensor([1, 5, 2, 1, 5, 3, 4, 2])  # the first mini-batch 9 tokens, the second 14
MINI_LABELS = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])  # groups of 2
SECOND = slice(4, 8)  # the second mini-batch's rows


def buffered_batch(write_config, tmp_path, algorithm: str, advantages: torch.Tensor):
    """A PacsGRPOTrainer of `algorithm` (via build_trainer) holding a generation batch of 8 rows, groups of 2,
    whose responses differ in length: 2 mini-batches of 2 micro-batches, with the old log-probs off
    θ (ratios ≠ 1, none clipped at 0.2). Returns the trainer, the buffered micro-batches and the whole
    batch's (ids, attention mask, completion mask, old log-probs)."""
    from pacslab.config import load_config
    from pacslab.engines.trl.run import build_trainer

    cfg = load_config(write_config(engine="trl", algorithm=algorithm, trl={"gradient_accumulation_steps": 2}, **{
        "rollout.prompts_per_step": 4, "rollout.n": 2, "rollout.max_new_tokens": 5, "optim.mini_batch_prompts": 2,
        "optim.micro_batch_prompts": 1}))
    trainer = build_trainer(cfg, tmp_path, base_dir=tmp_path)
    assert (trainer.args.per_device_train_batch_size, trainer.args.steps_per_generation) == (2, 4)
    model = trainer.model.train()
    g = torch.Generator().manual_seed(0)
    rows, width = MINI_LENGTHS.shape[0], 5
    mask = (torch.arange(width) < MINI_LENGTHS[:, None]).long()  # [8, 5]
    prompt = torch.tensor(trainer.processing_class("12+34=")["input_ids"]).repeat(rows, 1)  # [8, P]
    completion = torch.randint(3, 15, (rows, width), generator=g) * mask  # [8, 5]
    ids, attention = torch.cat([prompt, completion], 1), torch.cat([torch.ones_like(prompt), mask], 1)  # [8, P+5]
    with torch.no_grad():
        old = trainer._get_per_token_logps_and_entropies(model, ids, attention, width)[0]  # [8, 5]
    old = old + 0.05 * torch.randn(old.shape, generator=g)  # θ has moved: ratios ≠ 1
    batch = [{"prompt_ids": prompt[i:i + 2], "prompt_mask": torch.ones_like(prompt[i:i + 2]),
              "completion_ids": completion[i:i + 2], "completion_mask": mask[i:i + 2], "advantages": advantages[i:i + 2],
              "old_per_token_logps": old[i:i + 2], "num_items_in_batch": mask.sum(), LABELS: MINI_LABELS[i:i + 2],
              GROUPS: torch.arange(i, i + 2) // 2} for i in range(0, rows, 2)]
    trainer._buffered_inputs = batch
    trainer.current_gradient_accumulation_steps = 2  # as TRL's training loop sets it
    return trainer, batch, (ids, attention, mask, old)


def second_mini_batch_gradients(trainer, batch, whole, native_loss) -> tuple[list, list]:
    """Every parameter's gradient of the second mini-batch (rows 4-7): TRL's, as its training loop takes
    it (_compute_loss of each of the 2 micro-batches, backward), and native_loss(logp, old, mask) of
    its rows at once."""
    model = trainer.model
    ids, attention, mask, old = whole

    def gradient(loss_of) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        loss_of()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    def trl_mini_batch():
        for step in (2, 3):
            trainer._step = step
            trainer._compute_loss(model, dict(batch[step])).backward()

    def native_mini_batch():
        logp = trainer._get_per_token_logps_and_entropies(model, ids[SECOND], attention[SECOND], mask.shape[1])[0]
        native_loss(logp, old[SECOND], mask[SECOND]).backward()

    return gradient(trl_mini_batch), gradient(native_mini_batch)


def assert_same_gradients(trl: list[torch.Tensor], native: list[torch.Tensor]) -> None:
    assert len(trl) == len(native) > 0
    for a, b in zip(trl, native):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_grpo_under_trl_takes_the_native_token_mean_of_each_mini_batch(write_config, tmp_path):
    """engine: trl's GRPO gradient on a mini-batch of 2 micro-batches whose responses differ in
    length is grpo_loss's (the token mean over the mini-batch), token for token, where TRL's
    loss_type grpo averages each response first and dapo divides by the generation batch's mean."""
    from pacslab.losses import grpo_loss

    advantages = torch.tensor([0.7, -0.7, -0.7, 0.7, 0.0, 0.0, -0.7, 0.7])
    trainer, batch, whole = buffered_batch(write_config, tmp_path, "grpo", advantages)

    def native_loss(logp, old, mask):
        loss, metrics = grpo_loss(logp, old, mask, MINI_LABELS[SECOND], rollout_n=2, advantages=advantages[SECOND],
                                  clip_eps=trainer.epsilon_low)
        assert metrics["grpo/clip_frac"] == 0
        return loss

    assert_same_gradients(*second_mini_batch_gradients(trainer, batch, whole, native_loss))


def test_rloo_under_trl_takes_the_native_token_sums_of_each_mini_batch(write_config, tmp_path):
    """engine: trl's RLOO gradient on a mini-batch of 2 micro-batches whose responses differ in
    length is rloo_loss's (−mean over rows of A_i · Σ_t logp, no ratio), where TRL's surrogate
    averages each response's tokens and weighs them by the ratio to the old log-probs."""
    from pacslab.losses import rloo_advantages, rloo_loss

    advantages = rloo_advantages(MINI_LABELS, rollout_n=2).to(torch.float32)  # [8]
    assert advantages[SECOND].abs().sum() > 0
    trainer, batch, whole = buffered_batch(write_config, tmp_path, "rloo", advantages)

    def native_loss(logp, _old, mask):
        return rloo_loss(logp, mask, MINI_LABELS[SECOND], rollout_n=2, advantages=advantages[SECOND])[0]

    assert_same_gradients(*second_mini_batch_gradients(trainer, batch, whole, native_loss))
