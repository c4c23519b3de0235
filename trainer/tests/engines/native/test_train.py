"""The training loop end to end on a tiny model: records, resume equality, control, failures, learning."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch

from conftest import events_of, metrics_by_step, run_json, spawn_trainer, train, wait_for
from pacslab.run import files as runio
from pacslab.run import records as records_io
from pacslab.config import load_config
from pacslab.run.control import append_command

RECORD_FIELDS = {"step", "group", "index", "prompt_id", "prompt", "response", "answer", "reward", "verifier",
                 "logratio", "psi", "p_correct", "grad_weight", "weight", "length", "truncated", "tokens",
                 "token_logratio"}


def test_a_run_writes_the_run_format(write_config, tmp_path):
    config = write_config()
    run_dir = tmp_path / "runs" / "r1"
    assert train(config, run_dir) == 0
    info = run_json(run_dir)
    assert info["status"] == "finished" and info["step"] == 4 and info["total_steps"] == 4 and info["format"] == 3
    assert info["pid_start_time"].isdigit() and info["versions"]["device"] == "cpu" and info["error"] is None
    events = events_of(run_dir)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished" and events[-1]["status"] == "finished"
    steps = metrics_by_step(run_dir)
    # evaluation before step 1, at step 2 (eval_every) and at the end, each its own event; one training record per step
    assert [s for s, v in steps if "eval/accuracy" in v] == [0, 2, 4]
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [0, 2, 4] and all(set(e["values"]) == {"eval/accuracy", "eval/pass@1", "eval/pass@2", "perf/eval_s"} for e in evals)
    assert not any(k.startswith("eval/") for e in events if e["type"] == "metrics" for k in e["values"])
    train_values = [v for _, v in steps if "reward/mean" in v]
    assert len(train_values) == 4
    for name in ("reward/mean", "reward/std", "reward/mixed_group_frac", "pacs/loss", "pacs/psi_mean",
                 "pacs/psi_abs_mean", "pacs/weight_mean", "critic/ece", "critic/accuracy", "optim/grad_norm",
                 "optim/lr", "optim/skipped", "policy/entropy", "response/length_mean", "response/length_max",
                 "response/truncated_frac"):
        assert all(isinstance(v[name], float) for v in train_values), name
    assert all(0 <= v["eval/pass@1"] <= v["eval/pass@2"] <= 1 for _, v in steps if "eval/pass@1" in v)
    perf = [e["values"] for e in events if e["type"] == "metrics" and "perf/step_s" in e["values"]]
    assert all(p["perf/step_s"] >= p["perf/rollout_s"] > 0 and p["perf/tokens_per_s"] > 0 for p in perf)
    # rollout records: one file per step, every field of the run format, token log-ratios adding up to r̂
    records, bad = records_io.read_step(run_dir, 3)
    assert bad == 0 and len(records) == 16
    for r in records:
        assert set(r) == RECORD_FIELDS
        assert len(r["tokens"]) == len(r["token_logratio"]) == r["length"]
        assert math.fsum(r["token_logratio"]) == pytest.approx(r["logratio"], abs=1e-4)
        assert r["p_correct"] == pytest.approx(1 / (1 + math.exp(-r["psi"])), abs=1e-6)
        assert r["grad_weight"] == pytest.approx(r["reward"] - r["p_correct"], abs=1e-6)
    assert sorted((r["group"], r["index"]) for r in records) == [(g, i) for g in range(4) for i in range(4)]
    # critic/bce is the PACS loss at ψ_post, recomputable from the records it was logged with
    bce = math.fsum(r["weight"] * (max(r["psi"], 0) - r["psi"] * r["reward"] + math.log1p(math.exp(-abs(r["psi"]))))
                    for r in records) / len(records)
    assert dict(steps)[3]["critic/bce"] == pytest.approx(bce, rel=1e-5)
    # the final checkpoint is complete and named by `latest`
    assert runio.latest_checkpoint(run_dir).name == "step-000004"
    assert (run_dir / "config.yaml").is_file()


def test_suspended_and_resumed_run_matches_an_uninterrupted_one(write_config, tmp_path):
    config = write_config(total_steps=5, eval_every=2)
    straight, interrupted = tmp_path / "runs" / "straight", tmp_path / "runs" / "interrupted"
    assert train(config, straight) == 0

    def suspend_after_step_3(step, _line):
        if step == 3:
            append_command(interrupted, "suspend")

    assert train(config, interrupted, on_step=suspend_after_step_3) == 0
    info = run_json(interrupted)
    assert info["status"] == "suspended" and info["step"] == 3
    acks = [e for e in events_of(interrupted) if e["type"] == "control_ack"]
    assert [(a["command"], a["result"], a["step"]) for a in acks] == [("suspend", "ok", 3)]

    assert train(config, interrupted, resume=True) == 0
    assert run_json(interrupted)["status"] == "finished"
    assert metrics_by_step(interrupted) == metrics_by_step(straight)
    for step in (4, 5):
        assert records_io.read_step(interrupted, step) == records_io.read_step(straight, step)
    # the resumed process never re-applies the suspend line
    assert [e["command"] for e in events_of(interrupted) if e["type"] == "control_ack"] == ["suspend"]


@pytest.mark.parametrize("algorithm, extra", [("pacs", {}), ("grpo", {"grpo.kl_coef": 0.1}), ("rloo", {})])
def test_micro_batches_accumulate_to_the_mini_batch_gradient(write_config, tmp_path, algorithm, extra):
    """One mini-batch of 2 groups: two micro-batches of one group give the same update as one of two."""
    base = {"algorithm": algorithm, "total_steps": 1, "eval.size": 1, "eval.samples": 1, "eval.k": [1],
            "optim.mini_batch_prompts": 2, **extra}
    runs = {}
    for micro in (1, 2):
        run_dir = tmp_path / "runs" / f"micro{micro}"
        assert train(write_config(f"m{micro}.pacs.yaml", **base, **{"optim.micro_batch_prompts": micro}), run_dir) == 0
        runs[micro] = next(v for _, v in metrics_by_step(run_dir) if "reward/mean" in v)
    loss_key = f"{algorithm}/loss"
    for key in (loss_key, "optim/grad_norm", "critic/accuracy", "critic/ece"):
        # at θ_old the losses are sums of cancelling terms (GRPO's is 0 up to rounding), and the two
        # partitions round differently: 5.6e-6 against 0.0 on a 16-core machine with torch 2.11
        assert runs[1][key] == pytest.approx(runs[2][key], rel=1e-4, abs=1e-5 if key == loss_key else 1e-6), key
    if algorithm == "grpo":
        assert runs[1]["grpo/kl"] == pytest.approx(runs[2]["grpo/kl"], abs=1e-6)


@pytest.mark.parametrize("algorithm", ["pacs", "grpo"])
def test_the_fast_route_matches_the_plain_one(write_config, tmp_path, monkeypatch, algorithm):
    """Shared prompts + old log-probs from the update's own forward give the metrics of one-pass
    forwards + a separate no-grad old-log-prob pass (the algorithm's recipe, step for step)."""
    from pacslab.engines.native.loop import Trainer

    base = {"algorithm": algorithm, "total_steps": 3, "eval.size": 1, "eval.samples": 1, "eval.k": [1]}
    fast_dir, plain_dir = tmp_path / "runs" / "fast", tmp_path / "runs" / "plain"
    assert train(write_config("fast.pacs.yaml", **base), fast_dir) == 0
    monkeypatch.setattr(Trainer, "_one_update_per_batch", lambda self: False)
    assert train(write_config("plain.pacs.yaml", **base, **{"optim.share_prompts": False}), plain_dir) == 0
    fast, plain = metrics_by_step(fast_dir), metrics_by_step(plain_dir)
    assert [s for s, _ in fast] == [s for s, _ in plain] and len(fast) >= 4
    for (step, a), (_, b) in zip(fast, plain):
        assert a.keys() == b.keys(), step
        for key in a:
            if a[key] is None or b[key] is None:
                assert a[key] == b[key], (step, key)
            else:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (step, key)
    if algorithm == "pacs":
        assert all(v["pacs/loss"] == pytest.approx(math.log(2), abs=1e-6) for _, v in fast if "pacs/loss" in v)
    for step in (1, 2, 3):
        a, b = records_io.read_step(fast_dir, step)[0], records_io.read_step(plain_dir, step)[0]
        assert [r["response"] for r in a] == [r["response"] for r in b]
        assert [r["psi"] for r in a] == pytest.approx([r["psi"] for r in b], rel=1e-3, abs=1e-5)


def test_a_non_finite_gradient_skips_the_optimizer_step(write_config, tmp_path, monkeypatch):
    import pacslab.losses

    real_loss = pacslab.losses.pacs_loss

    def poisoned(*args, **kwargs):
        loss, metrics = real_loss(*args, **kwargs)
        return loss * float("nan"), metrics

    monkeypatch.setattr(pacslab.losses, "pacs_loss", poisoned)  # the registry's pacs entry calls it
    run_dir = tmp_path / "runs" / "nan"
    # action warn: the run goes on (the default, pause, is test_health_alerts' pause and resume)
    assert train(write_config(total_steps=2, eval_every=0, **{"alerts.nonfinite.action": "warn"}), run_dir) == 0
    steps = [v for _, v in metrics_by_step(run_dir) if "reward/mean" in v]
    assert [v["optim/skipped"] for v in steps] == [2.0, 2.0]  # two mini-batches per step, both skipped
    assert all(v["optim/grad_norm"] is None for v in steps)
    warnings = [e for e in events_of(run_dir) if e["type"] == "log" and e["level"] == "warning"]
    assert len(warnings) == 4 and "skipped an optimizer step" in warnings[0]["message"]
    # nothing moved: the policy still gives ψ_post = 0 for every sample
    records, _ = records_io.read_step(run_dir, 2)
    assert {r["psi"] for r in records} == {0.0}


def test_an_error_in_the_loop_leaves_status_failed_with_the_traceback(write_config, tmp_path, monkeypatch):
    import pacslab.engines.native.loop

    def broken(*_args, **_kwargs):
        raise RuntimeError("injected failure in the critic metrics")

    monkeypatch.setattr(pacslab.engines.native.loop, "critic_metrics", broken)
    run_dir = tmp_path / "runs" / "failing"
    assert train(write_config(), run_dir) == 1
    info = run_json(run_dir)
    assert info["status"] == "failed"
    assert info["error"]["message"] == "RuntimeError: injected failure in the critic metrics"
    assert "Traceback" in info["error"]["traceback"] and "train_step" in info["error"]["traceback"]
    events = events_of(run_dir)
    assert [e["type"] for e in events][-3:] == ["error", "state", "run_finished"]
    assert events[-1]["status"] == "failed" and "injected failure" in events[-3]["traceback"]


def test_unreadable_weights_fail_the_run_not_the_reader(write_config, tmp_path, tiny_model_dir):
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    run_dir = tmp_path / "runs" / "bad-weights"
    assert train(write_config(**{"model.path": "broken-model"}), run_dir) == 1
    assert run_json(run_dir)["status"] == "failed" and run_json(run_dir)["error"]["traceback"]


@pytest.fixture
def long_run(write_config, tmp_path):
    """A trainer subprocess on a 500-step tiny run: (process, run dir); killed if still alive."""
    run_dir = tmp_path / "runs" / "long"
    proc = spawn_trainer("train", str(write_config(total_steps=500, eval_every=0)), "--run-dir", str(run_dir),
                         cwd=tmp_path)
    yield proc, run_dir
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_control_commands_are_obeyed_and_acknowledged(long_run):
    proc, run_dir = long_run

    def acked(seq):
        return lambda: next((e for e in events_of(run_dir) if e["type"] == "control_ack" and e["seq"] == seq), None)

    wait_for(lambda: any(e["type"] == "metrics" and "reward/mean" in e["values"] for e in events_of(run_dir)),
             what="the first step", proc=proc)
    pause = wait_for(acked(append_command(run_dir, "pause")), what="the pause ack", proc=proc)
    assert pause["result"] == "ok" and run_json(run_dir)["status"] == "paused"
    again = wait_for(acked(append_command(run_dir, "pause")), what="a second pause", proc=proc)
    assert again["result"].startswith("ignored")
    paused_at = run_json(run_dir)["step"]
    ckpt = wait_for(acked(append_command(run_dir, "checkpoint")), what="the checkpoint ack", proc=proc)
    assert ckpt["result"] == "ok" and runio.latest_checkpoint(run_dir).name == f"step-{paused_at:06d}"
    assert run_json(run_dir)["step"] == paused_at  # still paused: no step ran meanwhile
    wait_for(acked(append_command(run_dir, "resume")), what="the resume ack", proc=proc)
    wait_for(lambda: run_json(run_dir)["step"] > paused_at + 1, what="steps after resume", proc=proc)
    stop_seq = append_command(run_dir, "stop")
    assert proc.wait(timeout=120) == 0
    assert wait_for(acked(stop_seq), what="the stop ack")["result"] == "ok"
    info = run_json(run_dir)
    assert info["status"] == "stopped"
    assert runio.latest_checkpoint(run_dir).name == f"step-{info['step']:06d}"
    states = [e["status"] for e in events_of(run_dir) if e["type"] == "state"]
    assert states == ["running", "paused", "running", "stopped"]


@pytest.mark.slow
def test_sigterm_checkpoints_and_stops(long_run):
    proc, run_dir = long_run
    wait_for(lambda: run_json(run_dir).get("step", 0) >= 1 if (run_dir / "run.json").exists() else False,
             what="the first step", proc=proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    info = run_json(run_dir)
    assert info["status"] == "stopped"
    assert runio.latest_checkpoint(run_dir).name == f"step-{info['step']:06d}"
    state = [e for e in events_of(run_dir) if e["type"] == "state"][-1]
    assert state["reason"] == "received SIGTERM"


ARITH_TINY = Path(__file__).resolve().parents[3] / "pacslab" / "assets" / "arith-tiny"


@pytest.mark.slow
@pytest.mark.skipif(not (ARITH_TINY / "config.json").is_file(), reason="builtin:arith-tiny is not built yet")
def test_pacs_raises_held_out_accuracy_of_the_demo_model(tmp_path):
    from conftest import REPO_DIR

    overrides = ["total_steps=30", "eval_every=0", "checkpoint_every=0", "eval.size=100", "eval.samples=1",
                 "eval.k=[1]", "logging.rollouts_every=0"]
    run_dir = tmp_path / "runs" / "learn"
    assert train(REPO_DIR / "examples" / "arith.pacs.yaml", run_dir, overrides=overrides) == 0
    evals = [v["eval/accuracy"] for _, v in metrics_by_step(run_dir) if "eval/accuracy" in v]
    assert len(evals) == 2
    assert evals[1] >= evals[0] + 0.05, f"held-out accuracy went from {evals[0]} to {evals[1]}"


KEEP_PROBE = """
import sys, torch
from pacslab.engines.native.cpu import keep_freed_memory
kept = keep_freed_memory(torch.device(sys.argv[1]), print)
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
returned = []
for _ in range(3):  # a 64 MB temporary, written, freed: how much of it goes back to the kernel
    x = torch.ones(16 * 1024 * 1024)
    held = resident()
    del x
    returned.append(held - resident())
print(kept, max(returned))
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc" or not Path("/proc/self/statm").is_file(),
                    reason="glibc's malloc parameters, /proc")
@pytest.mark.parametrize("device, env, kept", [("cpu", {}, True), ("cpu", {"MALLOC_TRIM_THRESHOLD_": "131072"}, False),
                                               ("meta", {}, False)])
def test_a_cpu_run_keeps_freed_memory_unless_the_environment_chooses(device, env, kept):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", KEEP_PROBE, device], env={**clean, **env}, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[-2] == str(kept)
    size = 64 * 1024 * 1024
    # kept, the freed temporary stays in the heap for the next one; otherwise its mapping goes back to the kernel.
    # (Whether the next temporary reuses those very pages depends on the heap's layout: counting page faults, as this
    # test did, failed in some layouts; see CHANGELOG.)
    assert (int(out[-1]) < size // 10) if kept else (int(out[-1]) > size // 2)


@pytest.mark.parametrize("device, work, env, threads", [
    ("cpu", 4e8, {}, 1),  # the demo: 0.8M parameters x 128 samples x 4 tokens
    ("cpu", 1.6e11, {}, 2),  # bench/trainer_vs_trl's realistic shape: 10M x 64 x 256
    ("cpu", 4e8, {"OMP_NUM_THREADS": "2"}, 2),  # the user's choice stands
    ("meta", 4e8, {}, 2),  # not a CPU
])
def test_a_small_step_runs_on_one_cpu_thread_and_a_large_one_on_the_default(monkeypatch, device, work, env, threads):
    # in this process (tune_cpu_threads reads the environment when it is called), its threads restored after
    from pacslab.engines.native.cpu import tune_cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tune_cpu_threads(torch.nn.Linear(2, 2), torch.device(device), lambda line: None, int(work))
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_step_work_counts_parameters_and_a_steps_response_tokens(write_config):
    from pacslab.engines.native.cpu import SMALL_STEP_WORK, step_work

    cfg = load_config(write_config())  # the test config's rollout
    model = torch.nn.Linear(1000, 790)  # 790,790 parameters, about the demo model's
    work = step_work(model, cfg)
    assert work == 790_790 * cfg.rollout.prompts_per_step * cfg.rollout.n * cfg.rollout.max_new_tokens
    assert work < SMALL_STEP_WORK
