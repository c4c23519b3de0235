"""The trainer's numerics end to end on tiny models: the algorithm registry, mixed precision with fp32
master weights, temperature-true log-probs, token-budget micro-batches with the layout-free PACS
gradient, the critic's cadence and checkpoint retention."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import events_of, run_json
from pacslab import algorithms
from pacslab.run import files as runio
from pacslab.run import records as records_io
from pacslab.config import Config, ConfigError, load_config
from pacslab.models import ASSETS_DIR
from pacslab.engines.native.loop import Trainer
from pacslab.engines.native.update import token_micro_batches
from conftest import metrics_by_step, train

QUICK = {"eval.size": 1, "eval.samples": 1, "eval.k": [1]}


def step_values(run_dir):
    return [v for _, v in metrics_by_step(run_dir) if "reward/mean" in v]


# ---------- the registry ----------

def test_the_config_and_run_json_take_the_algorithms_from_the_registry(write_config, tmp_path):
    assert set(Config.model_fields["algorithm"].annotation.__args__) == set(algorithms.NAMES)
    assert {"pacs", "grpo", "rloo", "dr_grpo"} <= set(algorithms.NAMES)
    with pytest.raises(ValueError, match="use one of pacs, grpo, rloo, dr_grpo"):
        algorithms.get("ppo")
    run_dir = tmp_path / "runs" / "dr"
    assert train(write_config(algorithm="dr_grpo", total_steps=2, **QUICK), run_dir) == 0
    assert run_json(run_dir)["loss_metric"] == "dr_grpo/loss"
    assert all(isinstance(v["dr_grpo/loss"], float) for v in step_values(run_dir))


@pytest.mark.parametrize("name", ["grpo", "rloo", "dr_grpo"])
def test_each_group_algorithm_states_its_group_requirement(write_config, name):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(algorithm=name, **{"rollout.n": 1}))
    assert [i.key for i in err.value.issues] == ["rollout.n"] and "set rollout.n to 2 or more" in str(err.value)


# ---------- micro-batches of any rows ----------

def test_token_micro_batches_pack_rows_within_the_budget():
    lengths = [3, 1, 4, 4, 2, 9, 1, 1]
    # rows × (2 + longest): 3·6, then 2·6 (a third row would be 3·11), 1·11, 2·3
    assert token_micro_batches(lengths, 2, 18, 0, 8) == [slice(0, 3), slice(3, 5), slice(5, 6), slice(6, 8)]
    assert token_micro_batches(lengths, 2, 1, 2, 6) == [slice(r, r + 1) for r in range(2, 6)]  # each row alone
    assert token_micro_batches(lengths, 2, 10**6, 0, 8) == [slice(0, 8)]
    for parts in (token_micro_batches(lengths, 2, b, 0, 8) for b in (6, 11, 20)):
        assert parts[0].start == 0 and parts[-1].stop == 8
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


@pytest.mark.parametrize("algorithm, extra", [
    ("pacs", {}), ("pacs", {"optim.epochs": 2}), ("pacs", {"pacs.reward_method": "mean_logp", "optim.epochs": 2}),
    ("grpo", {"grpo.kl_coef": 0.1}), ("rloo", {}), ("dr_grpo", {}),
])
def test_token_budget_micro_batches_that_split_groups_give_the_whole_group_update(write_config, tmp_path, algorithm, extra):
    """A budget of ~5 rows per pass (groups of 4) splits groups, and changes no metric of 3 steps."""
    base = {"algorithm": algorithm, "total_steps": 3, "optim.mini_batch_prompts": 4, **QUICK, **extra}
    runs = {}
    for name, micro in (("groups", {"optim.micro_batch_prompts": 4}), ("tokens", {"optim.micro_batch_tokens": 60})):
        run_dir = tmp_path / "runs" / name
        assert train(write_config(f"{name}.pacs.yaml", **base, **micro), run_dir) == 0
        runs[name] = step_values(run_dir)
    for whole, split in zip(runs["groups"], runs["tokens"]):
        assert whole.keys() == split.keys()
        for key, value in whole.items():
            if value is None:
                assert split[key] is None, key
            else:
                assert split[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_the_budget_really_splits_groups(write_config, tmp_path, monkeypatch):
    seen = []
    real = Trainer._accumulate_coupled
    monkeypatch.setattr(Trainer, "_accumulate_coupled", lambda self, d, mini, at_old: seen.append(mini) or real(self, d, mini, at_old))
    assert train(write_config(total_steps=1, **QUICK, **{"optim.mini_batch_prompts": 4, "optim.micro_batch_tokens": 60}),
                 tmp_path / "runs" / "split") == 0
    assert seen and any(rows.start % 4 or rows.stop % 4 for rows in seen[0])


# ---------- temperature ----------

def test_old_logprobs_are_those_of_the_sampler_at_its_temperature(write_config, tmp_path, monkeypatch):
    """At T = 0.5 the update's old log-prob of each sampled token is log softmax(logits/T) of the sampler."""
    import pacslab.rollout as rollout

    draws = []  # (logits [N, V], tokens [N]) of every sampling step
    real_sample = rollout.sample_tokens

    def recording(logits, **kwargs):
        assert kwargs["temperature"] == 0.5
        token = real_sample(logits, **kwargs)
        draws.append((logits.detach().float().clone(), token.clone()))
        return token

    monkeypatch.setattr(rollout, "sample_tokens", recording)
    captured = {}
    real_updates = Trainer._updates
    monkeypatch.setattr(Trainer, "_updates", lambda self, d: captured.setdefault("d", d) and real_updates(self, d))
    cfg = load_config(write_config(**{"rollout.temperature": 0.5}, **QUICK))
    (tmp_path / "run").mkdir()
    trainer = Trainer(cfg, tmp_path / "run", base_dir=tmp_path, resume=False, events=runio.EventLog(tmp_path / "run"),
                      info=runio.RunInfo(tmp_path / "run"), log=lambda _: None)
    trainer.train_step(1)
    d = captured["d"]
    rows = d.old_logp.shape[0]
    checked = 0
    for t, (logits, token) in enumerate(draws):
        if logits.shape[0] != rows:  # rows that finished left the batch: the first steps hold all of them
            break
        expected = torch.log_softmax(logits / 0.5, -1).gather(-1, token.unsqueeze(-1)).squeeze(-1)  # [B]
        torch.testing.assert_close(d.old_logp[:, t], expected, atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked >= 1
    untempered = torch.log_softmax(draws[0][0], -1).gather(-1, draws[0][1].unsqueeze(-1)).squeeze(-1)
    assert not torch.allclose(d.old_logp[:, 0], untempered, atol=1e-3)


# ---------- mixed precision ----------

def bf16_run(write_config, tmp_path, name, steps, **extra):
    link = tmp_path / "arith-tiny"
    if not link.exists():
        link.symlink_to(ASSETS_DIR / "arith-tiny")
    overrides = {"model.path": "arith-tiny", "model.dtype": "bfloat16", "total_steps": steps, "eval_every": 0,
                 "checkpoint_every": 0, "optim.lr": 2e-6, "optim.schedule": "constant", "rollout.prompts_per_step": 8,
                 "rollout.n": 8, "optim.mini_batch_prompts": 8, "optim.micro_batch_prompts": 8, "task.arith.digits": 2,
                 "task.arith.train_size": 2000, "rollout.max_new_tokens": 4, **QUICK, **extra}
    run_dir = tmp_path / "runs" / name
    assert train(write_config(f"{name}.pacs.yaml", **overrides), run_dir) == 0
    return run_dir


def test_bf16_compute_keeps_fp32_masters_so_small_updates_are_not_lost(write_config, tmp_path):
    """50 steps at lr 2e-6 in bf16: over a quarter of the exported bf16 weights move (31% measured;
    pure bf16 weights, which round such steps away, moved 2.2%), the export is in bf16, and the
    checkpoint keeps the fp32 masters."""
    from safetensors.torch import load_file

    run_dir = bf16_run(write_config, tmp_path, "bf16", steps=50)
    checkpoint = runio.latest_checkpoint(run_dir)
    exported = load_file(checkpoint / "model.safetensors")
    initial = load_file(ASSETS_DIR / "arith-tiny" / "model.safetensors")
    assert {t.dtype for t in exported.values()} == {torch.bfloat16}
    assert json.loads((checkpoint / "config.json").read_text()).get("dtype") == "bfloat16"
    moved = sum(int((exported[k] != initial[k].to(torch.bfloat16)).sum()) for k in exported)
    total = sum(t.numel() for t in exported.values())
    assert moved / total >= 0.25, f"only {moved / total:.1%} of the bf16 weights moved"
    masters = torch.load(checkpoint / runio.TRAINER_STATE, map_location="cpu", weights_only=False)["master_weights"]
    assert all(t.dtype == torch.float32 for t in masters.values())
    # every master moved, by far less than a bf16 ulp for most
    assert all(not torch.equal(masters[k], initial[k].float()) for k in exported)


def test_a_bf16_run_resumes_exactly_from_its_masters(write_config, tmp_path):
    straight = bf16_run(write_config, tmp_path, "straight", steps=3)
    cut = bf16_run(write_config, tmp_path, "cut", steps=3, checkpoint_every=1, total_steps=2)
    config = cut.parent.parent / "cut.pacs.yaml"
    assert train(config, cut, overrides=["total_steps=3"], resume=True) == 0
    assert step_values(cut)[-1] == step_values(straight)[-1]


# ---------- the critic's cadence and checkpoint retention ----------

def test_critic_every_skips_the_psi_post_pass_on_other_steps(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "critic"
    assert train(write_config(total_steps=4, **QUICK, **{"logging.critic_every": 2}), run_dir) == 0
    values = step_values(run_dir)
    assert ["critic/auc" in v or "critic/accuracy" in v for v in values] == [False, True, False, True]
    skipped, _ = records_io.read_step(run_dir, 1)
    assert all(r["psi"] is None and r["p_correct"] is None and "token_logratio" not in r for r in skipped)
    assert all(isinstance(r["weight"], float) for r in skipped)
    kept, _ = records_io.read_step(run_dir, 2)
    assert all(isinstance(r["psi"], float) and "token_logratio" in r for r in kept)


def test_checkpoint_keep_removes_the_oldest_but_never_latest(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "keep"
    assert train(write_config(total_steps=4, checkpoint_every=1, checkpoint_keep=2, **QUICK), run_dir) == 0
    root = runio.checkpoints_dir(run_dir)
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000003", "step-000004"]
    assert runio.latest_checkpoint(run_dir).name == "step-000004"
    removed = [e["message"] for e in events_of(run_dir) if e["type"] == "log" and "checkpoint_keep" in e["message"]]
    assert len(removed) == 2
    (root / "latest").write_text("step-000003\n")  # latest may name an older folder (a resumed run)
    (root / "step-000005").mkdir()
    assert runio.prune_checkpoints(run_dir, 1) == ["step-000004"]
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000003", "step-000005"]
