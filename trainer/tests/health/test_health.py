"""Health alerts, the prompt ledger and the held-out examples (pacslab.health): the rules on their
own, then each rule's condition built on the real trainer with the event and the action it takes."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from conftest import events_of, metrics_by_step, run_json, train
from pacslab.config.alerts import AlertsConfig
from pacslab.run import files as runio
from pacslab.run.control import append_command
from pacslab.health.alerts import AlertMonitor, strongest
from pacslab.health.ledger import Ledger, read_ledger
from pacslab.health.run import group_shares, step_shares


def alerts_of(run_dir, rule=None):
    return [e for e in events_of(run_dir) if e["type"] == "alert" and (rule is None or e["rule"] == rule)]


# ---------------------------------------------------------------- the rules on their own


def monitor(**sections) -> AlertMonitor:
    return AlertMonitor(AlertsConfig.model_validate(sections), loss_metric="pacs/loss")


def test_a_rule_fires_once_per_episode_and_again_after_it_cleared():
    m = monitor(truncation={"steps": 2})
    fired = [[a.rule for a in m.observe(s, {"response/truncated_frac": f})]
             for s, f in enumerate([0.9, 0.9, 0.9, 0.1, 0.9, 0.9, None, 0.9], start=1)]
    assert fired == [[], ["truncation"], [], [], [], ["truncation"], [], []]


def test_a_rule_turned_off_never_fires_and_strongest_orders_the_actions():
    m = monitor(truncation={"enabled": False}, verifier_errors={"action": "stop"}, nonfinite={"action": "pause"})
    alerts = m.observe(1, {"response/truncated_frac": 1.0, "verifier/error_frac": 0.9, "optim/skipped": 1.0})
    assert sorted(a.rule for a in alerts) == ["nonfinite", "verifier_errors"]
    assert strongest(alerts) == "stop" and strongest([]) is None


def test_each_rule_condition():
    m = monitor(entropy_collapse={"early_steps": 3, "steps": 1}, grad_spike={"factor": 5}, critic_blind={"steps": 2},
                length_runaway={"window": 2}, no_signal={"steps": 2}, reward_vs_heldout={"evals": 2})
    fired = {}
    rows = [
        {"policy/entropy": 1.0, "optim/grad_norm": 1.0, "critic/auc": 0.4, "response/length_mean": 10,
         "reward/all_correct_frac": 0.5, "reward/all_wrong_frac": 0.5, "reward/mean": 0.2},
        {"policy/entropy": 1.2, "optim/grad_norm": 1.1, "critic/auc": 0.5, "response/length_mean": 10,
         "reward/all_correct_frac": 0.5, "reward/all_wrong_frac": 0.5},
        {"policy/entropy": 0.8, "optim/grad_norm": 0.9, "critic/auc": None, "response/length_mean": 30},
        {"policy/entropy": 0.05, "optim/grad_norm": 50.0, "response/length_mean": 30, "reward/mean": 0.9},
    ]
    for step, values in enumerate(rows, start=1):
        for a in m.observe(step, values):
            fired[a.rule] = a
    assert {r: a.step for r, a in fired.items()} == {"critic_blind": 2, "no_signal": 2, "entropy_collapse": 4,
                                                     "grad_spike": 4, "length_runaway": 4}
    assert fired["length_runaway"].value == 3.0 and fired["grad_spike"].threshold == 5.0
    # reward up 0.2 → 0.9 over two evaluations while held-out accuracy falls 0.6 → 0.4
    assert m.observe_eval(0, {"eval/accuracy": 0.6}) == []  # no training reward yet
    m.rules["reward_vs_heldout"].rewards = [0.2]
    assert m.observe_eval(2, {"eval/accuracy": 0.6}) == []
    m.observe(3, {"reward/mean": 0.9})
    [alert] = m.observe_eval(4, {"eval/accuracy": 0.4, "eval/pass@1": 0.9})
    assert alert.rule == "reward_vs_heldout" and alert.value == pytest.approx(-0.2)


def test_group_shares():
    assert group_shares([(4, 4), (0, 4), (2, 4), (0, 4)]) == {
        "reward/all_correct_frac": 0.25, "reward/all_wrong_frac": 0.5, "reward/mixed_group_frac": 0.25}


# ---------------------------------------------------------------- the ledger


def test_the_ledger_names_a_prompt_once_and_a_resume_cuts_the_steps_it_reruns(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.write(1, [("a", "s1", 2, 4), ("b", None, 0, 4)])
    ledger.write(2, [("b", None, 4, 4), ("c", "s1", 1, 2)])
    ledger.write(3, [("d", "s2", 1, 4)])
    ledger.close()
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert lines[1] == '{"step":2,"new":[["c","s1"]],"p":[1,2],"c":[4,1],"n":[4,2]}'
    resumed = Ledger(tmp_path, after_step=2)
    resumed.write(3, [("a", "s1", 3, 4), ("e", None, 0, 4)])
    resumed.close()
    assert read_ledger(tmp_path / "ledger.jsonl") == [
        (1, "a", "s1", 2, 4), (1, "b", None, 0, 4), (2, "b", None, 4, 4), (2, "c", "s1", 1, 2),
        (3, "a", "s1", 3, 4), (3, "e", None, 0, 4)]


def test_the_ledger_counts_the_groups_dynamic_sampling_dropped_after_the_batch(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.write(1, [("a", None, 2, 4)], dropped=[("b", None, 0, 4), ("a", None, 4, 4)])
    ledger.write(2, [("b", None, 1, 4)])
    ledger.close()
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert lines == ['{"step":1,"new":[["a",null],["b",null]],"p":[0,1,0],"c":[2,0,4],"n":4,"dropped":2}',
                     '{"step":2,"p":[1],"c":[1],"n":4}']
    assert step_shares([("a", None, 2, 4)], [("b", None, 0, 4), ("a", None, 4, 4)]) == pytest.approx(
        {"reward/all_correct_frac": 1 / 3, "reward/all_wrong_frac": 1 / 3, "reward/mixed_group_frac": 1 / 3})


def test_ledger_size_at_1024_prompts_by_1000_steps(tmp_path):
    """The measured size of a large run's ledger (ids like the task files' `train-000123`)."""
    import random

    rng = random.Random(0)
    ledger = Ledger(tmp_path)
    pool = [f"train-{i:06d}" for i in range(20_000)]
    for step in range(1, 1001):
        ledger.write(step, [(p, "gsm8k", rng.randint(0, 8), 8) for p in rng.sample(pool, 1024)])
    ledger.close()
    size = (tmp_path / "ledger.jsonl").stat().st_size
    print(f"ledger of 1,024 prompts x 1,000 steps: {size / 1e6:.1f} MB")
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 1_024_000
    assert size < 16 * 1_024_000  # under 16 bytes a prompt-step, ids included


# ---------------------------------------------------------------- on the real trainer


def test_no_signal_fires_within_20_steps_of_near_greedy_sampling_and_stop_checkpoints(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "greedy"
    config = write_config(total_steps=20, eval_every=0, checkpoint_every=0, **{
        "rollout.temperature": 0.01, "alerts.no_signal.action": "stop"})
    assert train(config, run_dir) == 0
    [alert] = alerts_of(run_dir, "no_signal")
    assert alert["step"] <= 20 and alert["action"] == "stop" and alert["value"] > 0.9
    info = run_json(run_dir)
    assert info["status"] == "stopped" and info["step"] == alert["step"]
    assert runio.latest_checkpoint(run_dir).name == runio.step_name(alert["step"])
    # every step of the ledger, with the group shares that made the rule fire
    steps = {row[0] for row in read_ledger(run_dir / "ledger.jsonl")}
    assert steps == set(range(1, alert["step"] + 1))


def test_a_verifier_that_raises_fires_verifier_errors(write_config, tmp_path):
    (tmp_path / "flaky.py").write_text(
        "def check(response, answer, prompt):\n"
        "    if len(response) % 2:\n"
        "        raise RuntimeError('verifier broke')\n"
        "    return response.strip() == answer\n")
    run_dir = tmp_path / "runs" / "flaky"
    assert train(write_config(total_steps=2, eval_every=0, **{"task.verifier": "python:./flaky.py:check"}), run_dir) == 0
    [alert] = alerts_of(run_dir, "verifier_errors")
    assert alert["step"] == 1 and alert["action"] == "warn" and alert["value"] > 0.2
    assert "raised or timed out" in alert["message"]


def test_a_tiny_budget_fires_truncation(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "cut"
    assert train(write_config(total_steps=3, eval_every=0, **{"rollout.max_new_tokens": 1}), run_dir) == 0
    [alert] = alerts_of(run_dir, "truncation")
    assert alert["step"] == 3 and alert["value"] > 0.5  # a response can end at its first token


def test_an_exploding_learning_rate_collapses_entropy(write_config, tmp_path):
    # a reward that splits every group (even-length responses are right), so every step has a gradient
    (tmp_path / "parity.py").write_text("def check(response, answer, prompt):\n    return len(response.strip()) % 2 == 0\n")
    run_dir = tmp_path / "runs" / "lr"
    # the learning rate climbs to 1 over 8 steps, unclipped
    config = write_config(total_steps=10, eval_every=0, **{
        "task.verifier": "python:./parity.py:check", "optim.lr": 1.0, "optim.schedule": "warmup_cosine",
        "optim.warmup_steps": 8, "optim.max_grad_norm": 0.0, "alerts.nonfinite.action": "warn",
        "alerts.grad_spike.factor": 3.0, "alerts.entropy_collapse.early_steps": 3, "alerts.entropy_collapse.steps": 1})
    assert train(config, run_dir) == 0
    fired = {a["rule"]: a for a in alerts_of(run_dir)}
    steps = dict(metrics_by_step(run_dir))
    collapse = fired["entropy_collapse"]
    early = sorted(steps[s]["policy/entropy"] for s in (1, 2, 3))
    assert collapse["value"] == steps[collapse["step"]]["policy/entropy"] < 0.1 * early[1] == collapse["threshold"]


def test_a_run_resumed_at_a_much_lower_temperature_fires_grad_spike_and_stops_at_that_step(write_config, tmp_path):
    """The update takes the log-probs at the rollout temperature, so a sample off the greedy path has a
    gradient that grows as 1/T: the embedded default resumed with rollout.temperature lowered from 1 to
    0.02 (a scale change, as made to sharpen the samples) has steps whose groups all agree (no gradient)
    and then a step whose gradient norm is over 10 x its running median, the rule's default factor. (An
    exploding learning rate does not do it: it collapses the policy, the groups agree and the gradient
    vanishes; see test_an_exploding_learning_rate_collapses_entropy.)"""
    run_dir = tmp_path / "runs" / "cold"
    config = write_config(total_steps=6, eval_every=0, checkpoint_every=6, **{
        "model.path": "builtin:arith-tiny", "task.arith": {"digits": 2, "seed": 1234}, "rollout.n": 8,
        "optim.lr": 4e-4, "optim.mini_batch_prompts": 4, "optim.micro_batch_prompts": 4, "alerts.grad_spike.action": "stop"})
    assert train(config, run_dir) == 0
    assert alerts_of(run_dir, "grad_spike") == [], "steady at temperature 1"
    assert train(config, run_dir, overrides=["total_steps=12", "rollout.temperature=0.02"], resume=True) == 0
    [alert] = alerts_of(run_dir, "grad_spike")
    norms = {step: values["optim/grad_norm"] for step, values in metrics_by_step(run_dir) if "optim/grad_norm" in values}
    step = alert["step"]
    median = statistics.median(norms[s] for s in range(1, step))  # the window (20) holds every earlier step
    assert step > 6 and alert["action"] == "stop"
    assert alert["value"] == norms[step] > 10 * median and alert["threshold"] == pytest.approx(10 * median)
    assert max(norms[s] for s in range(1, 7)) < 3 * min(norms[s] for s in range(1, 7)), "no spike at temperature 1"
    # stop: checkpointed at the alert's step, then stopped (Resume relaunches from there)
    info = run_json(run_dir)
    assert info["status"] == "stopped" and info["step"] == step
    assert runio.latest_checkpoint(run_dir).name == runio.step_name(step)


def test_nonfinite_pauses_the_run_and_resume_continues(write_config, tmp_path, monkeypatch):
    import pacslab.losses

    real_loss = pacslab.losses.pacs_loss
    monkeypatch.setattr(pacslab.losses, "pacs_loss", lambda *a, **k: (lambda out: (out[0] * float("nan"), out[1]))(
        real_loss(*a, **k)))
    run_dir = tmp_path / "runs" / "nan"
    config = write_config(total_steps=3, eval_every=0, **{"logging.rollouts_every": 0})

    def resume_once_paused():
        deadline = time.time() + 120
        while time.time() < deadline:
            info = runio.read_json(run_dir / runio.RUN_JSON) or {}
            if info.get("status") == "paused":
                append_command(run_dir, "resume")
                return
            time.sleep(0.05)

    helper = threading.Thread(target=resume_once_paused)
    helper.start()
    assert train(config, run_dir) == 0
    helper.join()
    [alert] = alerts_of(run_dir, "nonfinite")
    assert alert["step"] == 1 and alert["action"] == "pause"
    states = [(e.get("step"), e["status"]) for e in events_of(run_dir) if e["type"] == "state"]
    assert (1, "paused") in states and states[-1] == (3, "finished")
    # the paused step's rollouts are recorded though rollouts_every is 0
    assert [e["step"] for e in events_of(run_dir) if e["type"] == "rollouts"] == [1]


def test_every_evaluation_records_each_held_out_example(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "heldout"
    assert train(write_config(total_steps=2, eval_every=1), run_dir) == 0
    files = [e for e in events_of(run_dir) if e["type"] == "heldout"]
    assert [e["step"] for e in files] == [0, 1, 2] and {e["count"] for e in files} == {6}
    rows, _ = runio.read_jsonl(run_dir / files[-1]["file"])
    evals = [e for e in events_of(run_dir) if e["type"] == "eval"]
    assert sum(r["greedy_correct"] for r in rows) / len(rows) == evals[-1]["values"]["eval/accuracy"]
    assert all(len(r["responses"]) == r["samples"] == 2 and 0 <= r["correct"] <= 2 for r in rows)
    # what `verify --eval` re-verifies: each sample's label, the prompt, the answer and the set's k
    assert all(len(r["labels"]) == 2 and sum(r["labels"]) == r["correct"] and r["k"] == [1, 2] for r in rows)
    assert all(r["prompt"].endswith("=") and r["answer"].isdigit() for r in rows)
    assert len({r["id"] for r in rows}) == 6 and {r["set"] for r in rows} == {None}


def test_every_rule_on_a_real_run_records_what_the_shared_rules_say(write_config, tmp_path):
    """Low thresholds on a real run (a reward that splits groups, so the critic, gradients and
    lengths move): critic_blind, length_runaway, grad_spike and reward_vs_heldout are evaluated on
    the trainer's own metrics, and the recorded alerts are exactly the shared rules' verdicts on
    the recorded metrics and evaluations."""
    from pacslab.config import load_config

    (tmp_path / "parity.py").write_text("def check(response, answer, prompt):\n    return len(response.strip()) % 2 == 0\n")
    run_dir = tmp_path / "runs" / "all"
    config = write_config(total_steps=8, eval_every=2, **{
        "task.verifier": "python:./parity.py:check", "rollout.max_new_tokens": 6,
        "alerts.critic_blind.auc": 1.0, "alerts.critic_blind.steps": 2,
        "alerts.length_runaway.window": 1, "alerts.length_runaway.factor": 1.01,
        "alerts.grad_spike.factor": 1.01, "alerts.grad_spike.window": 3,
        "alerts.reward_vs_heldout.evals": 2, "alerts.reward_vs_heldout.min_change": 0.0})
    assert train(config, run_dir) == 0
    events = events_of(run_dir)
    recorded = [(a["rule"], a["step"]) for a in alerts_of(run_dir)]
    monitor = AlertMonitor(load_config(config).alerts, loss_metric="pacs/loss")
    expected = [(a.rule, a.step) for e in events if e["type"] in ("metrics", "eval") and not (e["type"] == "metrics" and e["step"] == 0)
                for a in (monitor.observe if e["type"] == "metrics" else monitor.observe_eval)(e["step"], e["values"])]
    assert recorded == expected
    fired = {rule for rule, _ in recorded}
    assert "critic_blind" in fired, recorded
    blind = next(a for a in alerts_of(run_dir) if a["rule"] == "critic_blind")
    [auc] = [e["values"]["critic/auc"] for e in events if e["type"] == "metrics" and e["step"] == blind["step"]]
    assert blind["value"] == auc


def test_a_nonfinite_gradient_under_trl_drops_every_gradient_so_the_optimizer_skips_the_step():
    import torch

    from pacslab.health.records import skip_nonfinite_step, step_prompts, step_values

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.ones(1, 3)).sum().backward()
    assert not skip_nonfinite_step(model) and all(p.grad is not None for p in model.parameters())
    model.weight.grad[0, 0] = float("nan")
    assert skip_nonfinite_step(model) and all(p.grad is None for p in model.parameters())
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # the ledger's prompts and the group shares from sample records (TRL, imports)
    records = [{"group": g, "prompt": f"p{g}", "reward": r, **({"prompt_id": "id0"} if g == 0 else {}),
                "verifier": {"error": "boom" if i == 0 else None}} for i, (g, r) in enumerate([(0, 1.0), (0, 0.0), (1, 0.0), (1, 0.0)])]
    assert step_prompts(records) == [("id0", None, 1, 2), ("p1", None, 0, 2)]
    assert step_values(records) == {"reward/all_correct_frac": 0.0, "reward/all_wrong_frac": 0.5,
                                    "reward/mixed_group_frac": 0.5, "verifier/error_frac": 0.25}
    assert step_values(records, [("p9", None, 2, 2), ("p8", None, 2, 2)]) == {
        "reward/all_correct_frac": 0.5, "reward/all_wrong_frac": 0.25, "reward/mixed_group_frac": 0.25,
        "verifier/error_frac": 0.25}  # with two all-correct groups that dynamic sampling dropped
