"""engine: trl with several optimizer steps per rollout batch: PACS exact at the current θ in every
mini-batch, against the native engine's loss, on 2 torchrun processes (trl_workers/minibatches.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from pacslab.engines.trl.minibatch import mini_batch_gradient
from pacslab.losses import pacs_rhat_gradient
from pacslab.run.records import read_file

pytest.importorskip("trl")

from test_trl_engine import torchrun  # noqa: E402


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("minibatches")
    result = torchrun("minibatches.py", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank-{r}.json").read_text())["layouts"] for r in range(2)]


@pytest.mark.parametrize("layout", ["split_micro", "split_ranks", "split_ranks_mean_logp", "whole"])
def test_every_mini_batch_has_the_native_gradient_at_the_current_theta(reports, layout):
    """Each optimizer step's DDP-averaged gradient equals the native engine's `pacs` loss gradient on
    the same rows at the same θ within 1e-6 relative; from the 2nd step on θ ≠ θ_old (ψ ≠ 0), where
    c taken at θ_old would be off by more than 1%, so the check can fail."""
    for report in reports:
        steps = report[layout]["steps"]
        assert len(steps) == 3
        for i, step in enumerate(steps):
            assert step["error"] <= 1e-6, f"{layout}, optimizer step {i + 1}: relative error {step['error']}"
        for step in steps[1:]:
            assert step["psi_abs_mean"] > 0.1 and step["stale_error"] > 1e-2
        assert report[layout]["fields_filled"], "a row's ψ as the loss took it is missing from the records"
    assert reports[0][layout] == reports[1][layout]


def test_the_paths_follow_the_layout(reports):
    for report in reports:
        assert all(step["paths"] == [True, True] for step in report["whole"]["steps"])  # pacs_loss itself
        for layout in ("split_micro", "split_ranks", "split_ranks_mean_logp"):
            assert all(not any(step["paths"]) for step in report[layout]["steps"])  # c at the current θ


def test_mini_batch_gradient_takes_rows_in_any_order():
    g = torch.Generator().manual_seed(0)
    rhat = torch.randn(12, generator=g, dtype=torch.float64)  # [B]
    labels = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0], dtype=torch.float64)
    groups = torch.arange(12) // 4
    want, metrics = pacs_rhat_gradient(rhat, labels, rollout_n=4, group_ids=groups)
    order = torch.randperm(12, generator=g)
    got, got_metrics, fields = mini_batch_gradient(rhat[order], labels[order], groups[order], rollout_n=4)
    torch.testing.assert_close(got, want[order], rtol=1e-12, atol=1e-15)  # a group's rows may come in another order
    assert got_metrics == pytest.approx(metrics, rel=1e-12)
    assert torch.equal(fields["logratio"], rhat[order])
    assert torch.equal(fields["p_correct"], torch.sigmoid(fields["psi"]))


def test_a_run_counts_rollout_batches_as_steps(tmp_path):
    """2 rollout batches of 2 mini-batches × 2 epochs on 2 processes: TRL makes 8 optimizer steps,
    the run's events, records and checkpoint count 2 steps, and the records hold ψ after the step's
    updates with the critic/* metrics, as the native engine's."""
    import yaml

    from test_trl_engine import _events, _train

    config = tmp_path / "trl.pacs.yaml"
    config.write_text(yaml.safe_dump({
        "name": "trl-mini", "engine": "trl", "device": "cpu", "total_steps": 2, "checkpoint_every": 2, "eval_every": 0,
        "eval": {"size": 4, "samples": 2, "k": [1, 2], "batch_prompts": 2}, "launch": {"num_processes": 2},
        "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
        "optim": {"mini_batch_prompts": 2, "micro_batch_prompts": 1, "epochs": 2, "lr": 0.05},
        "task": {"arith": {"digits": 2, "train_size": 40, "eval_size": 8}}}))
    result = _train(str(config), "--runs-root", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["status"], info["step"], info["total_steps"]) == ("finished", 2, 2)
    events = _events(run_dir)
    metrics = [e["values"] for e in events if e["type"] == "metrics"]
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1, 2]
    assert all(m["critic/bce"] is not None and m["critic/accuracy"] is not None for m in metrics)  # ψ_post, as native
    assert [e["path"] for e in events if e["type"] == "checkpoint"] == ["checkpoints/step-000002"]
    state = json.loads((run_dir / "checkpoints" / "step-000002" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    for e in (e for e in events if e["type"] == "rollouts"):
        records, _ = read_file(run_dir / e["file"])
        assert len(records) == 16 and all(r["psi"] is not None and r["p_correct"] is not None for r in records)
        for r in records:  # ψ after the step's updates, against π_old
            assert r["p_correct"] == pytest.approx(1 / (1 + math.exp(-r["psi"])))
            assert r["grad_weight"] == pytest.approx(r["reward"] - r["p_correct"])
