"""engine: trl: its config rules, and PACS exact on rows spread over processes and micro-batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TRAINER_DIR
from pacslab.config import ConfigError, load_config
from pacslab.engines.trl.loss import coupled_loss, labels_gradient, whole_groups
from pacslab.engines.trl.trainer import pacs_micro_loss
from pacslab.losses import pacs_loss

pytest.importorskip("trl")

WORKERS = Path(__file__).parent / "trl_workers"


def torchrun(script: str, *args: str, processes: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(processes), str(WORKERS / script), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_two_processes_give_the_one_process_pacs_gradient(tmp_path):
    """Groups split across the 2 ranks and their micro-batches, and whole groups per micro-batch."""
    result = torchrun("exactness.py", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in range(2)]
    for report in reports:
        assert report["world"] == 2 and report["grad_norm"] > 0.1
        assert set(report["errors"]) == {"whole_groups", "split_groups"}
        for layout, error in report["errors"].items():
            assert error <= 1e-6, f"{layout}: relative gradient error {error}"


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logp = torch.randn(8, 5, generator=g, dtype=torch.float64, requires_grad=True)  # [B, T]
    old = (logp.detach() + 0.1 * torch.randn(8, 5, generator=g, dtype=torch.float64))  # [B, T]
    mask = (torch.arange(5).unsqueeze(0) < torch.tensor([5, 3, 1, 4, 2, 5, 5, 1]).unsqueeze(1)).double()  # [B, T]
    labels = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 1])
    return logp, old, mask, labels, torch.arange(8) // 4


def test_the_local_path_is_pacs_loss_bitwise():
    logp, old, mask, labels, groups = _batch()
    want, _ = pacs_loss(logp, old, mask, labels, rollout_n=4, group_ids=groups)
    c, _ = labels_gradient(labels, groups, rollout_n=4)
    got = pacs_micro_loss(logp, old, mask, labels, groups, c, rollout_n=4, beta=1.0, processes=1, accumulation=1)
    assert torch.equal(got, want)


def test_c_at_theta_old_gives_the_pacs_gradient_on_any_rows():
    logp, _, mask, labels, groups = _batch()
    old = logp.detach()
    loss, _ = pacs_loss(logp, old, mask, labels, rollout_n=4, group_ids=groups)
    (want,) = torch.autograd.grad(loss, logp)
    c, metrics = labels_gradient(labels, groups, rollout_n=4)
    assert metrics["pacs/loss"] == pytest.approx(loss.item())
    rows = torch.tensor([6, 1, 3]), torch.tensor([0, 2, 4, 5, 7])  # two micro-batches mixing both groups
    got = torch.zeros_like(logp)
    for r in rows:
        (g,) = torch.autograd.grad(coupled_loss(logp[r], old[r], mask[r], c[r], beta=1.0, scale=1.0), logp)
        got += g
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_whole_groups_needs_contiguous_whole_groups():
    assert whole_groups(torch.tensor([2, 2, 0, 0]), 2)
    assert not whole_groups(torch.tensor([2, 0, 2, 0]), 2)
    assert not whole_groups(torch.tensor([2, 2, 2, 2]), 2)  # one group twice is no pair of groups
    assert not whole_groups(torch.tensor([1, 1, 1]), 2)


def _error(write_config, **overrides) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(**overrides))
    return info.value


def test_engine_trl_config_loads(write_config):
    cfg = load_config(write_config(engine="trl", trl={"logging_steps": 1},
                                   **{"launch.num_processes": 2, "optim.mini_batch_prompts": 4}))
    assert cfg.engine == "trl" and cfg.launch.num_processes == 2 and cfg.trl == {"logging_steps": 1}


def test_trl_fields_are_checked_against_grpo_config(write_config):
    err = _error(write_config, engine="trl", trl={"logging_step": 1, "learning_rate": 0.1},
                 **{"optim.mini_batch_prompts": 4})
    issues = {i.key: i for i in err.issues}
    assert set(issues) == {"trl.logging_step", "trl.learning_rate"}
    assert "not a field of trl.GRPOConfig" in issues["trl.logging_step"].problem
    assert "optim.lr" in issues["trl.learning_rate"].fix


def test_options_the_trl_engine_cannot_honour_are_config_errors(write_config):
    err = _error(write_config, engine="trl", **{"pacs.reward_method": "mean_logp", "rollout.prompts_per_step": 3, "rollout.n": 3,
                                                "optim.mini_batch_prompts": 3, "optim.micro_batch_prompts": 1,
                                                "launch.num_processes": 2})
    assert {i.key for i in err.issues} == {"pacs.reward_method", "rollout.prompts_per_step"}
    assert {i.key for i in _error(write_config, engine="trl").issues} == {"optim.mini_batch_prompts"}


def test_launch_keys_are_checked(write_config, tmp_path):
    err = _error(write_config, **{"launch.num_processes": 2, "launch.num_machines": 2, "launch.machine_rank": 2,
                                  "launch.accelerate_config": "zero3.yaml"})
    issues = {i.key: i for i in err.issues}
    assert set(issues) == {"launch.num_processes", "launch.machine_rank", "launch.main_process_ip",
                           "launch.accelerate_config"}
    assert "engine: trl" in issues["launch.num_processes"].fix
    assert str(tmp_path / "zero3.yaml") in issues["launch.accelerate_config"].problem


# ---------------------------------------------------------------- 2-process runs through `python -m pacslab train`

DYING_VERIFIER = '''
import os


def check(response, answer, prompt):
    if os.environ.get("RANK") == "1" and os.path.exists(os.environ["PACS_TEST_DIE"]):
        os._exit(7)
    open(os.environ["PACS_TEST_DIE"], "a").close()  # the first call lets rank 1 through once
    return response.strip() == answer
'''


def _trl_config(tmp_path: Path, **overrides) -> Path:
    import yaml

    cfg = {"name": "trl", "engine": "trl", "device": "cpu", "total_steps": 6, "checkpoint_every": 3, "eval_every": 0,
           "launch": {"num_processes": 2}, "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
           "optim": {"mini_batch_prompts": 4, "micro_batch_prompts": 4},
           "task": {"arith": {"digits": 2, "train_size": 40, "eval_size": 8}}, **overrides}  # arith-tiny's own digits
    path = tmp_path / "trl.pacs.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(*args: str, env: dict | None = None, wait: bool = True):
    command = [sys.executable, "-m", "pacslab", "train", *args]
    full_env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), **(env or {})}
    if wait:
        return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_suspend_then_resume_finishes_six_steps_on_two_processes(tmp_path):
    from pacslab.control import append_command

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append_command(run_dir, "suspend")  # read at the first step's end
    first = _train(str(_trl_config(tmp_path)), "--run-dir", str(run_dir))
    assert first.returncode == 0, first.stderr[-3000:]
    info = _run_json(run_dir)
    assert (info["status"], info["engine"], info["world_size"]) == ("suspended", "trl", 2)
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000001"

    second = _train("--resume", str(run_dir))
    assert second.returncode == 0, second.stderr[-3000:]
    info = _run_json(run_dir)
    assert (info["status"], info["step"]) == ("finished", 6)
    events = _events(run_dir)
    steps = [e["step"] for e in events if e["type"] == "metrics"]
    assert steps == [1, 2, 3, 4, 5, 6]
    values = next(e["values"] for e in events if e["type"] == "metrics")
    assert {"reward/mean", "pacs/loss", "optim/grad_norm", "trl/loss"} <= set(values)
    assert any(e["values"]["optim/grad_norm"] > 0 for e in events if e["type"] == "metrics"), "no learning signal"
    assert [e["result"] for e in events if e["type"] == "control_ack"] == ["ok"]
    assert [e["path"] for e in events if e["type"] == "checkpoint"] == [
        "checkpoints/step-000001", "checkpoints/step-000003", "checkpoints/step-000006"]
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000006"
    records = [json.loads(line) for line in (run_dir / "rollouts" / "step-000006.jsonl").read_text().splitlines()]
    assert len(records) == 16 and {r["group"] for r in records} == {0, 1, 2, 3}
    for record in records:
        assert record["reward"] in (0.0, 1.0) and record["response"] is not None and record["answer"]
        assert record["grad_weight"] == record["reward"] - record["p_correct"] and record["weight"] > 0
        assert "detail" in record["verifier"]


def test_pause_holds_both_ranks_until_stop(tmp_path):
    import time

    from pacslab.control import append_command

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append_command(run_dir, "pause")
    process = _train(str(_trl_config(tmp_path, total_steps=50)), "--run-dir", str(run_dir), wait=False)
    try:
        deadline = time.monotonic() + 240
        while not ((run_dir / "run.json").exists() and _run_json(run_dir).get("status") == "paused"):
            assert process.poll() is None, process.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the run never paused"
            time.sleep(0.5)
        append_command(run_dir, "checkpoint")
        append_command(run_dir, "stop")
        assert process.wait(timeout=240) == 0, process.stdout.read()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    info = _run_json(run_dir)
    assert (info["status"], info["step"]) == ("stopped", 1)
    events = _events(run_dir)
    assert [(e["command"], e["result"]) for e in events if e["type"] == "control_ack"] == [
        ("pause", "ok"), ("checkpoint", "ok"), ("stop", "ok")]
    assert [e["status"] for e in events if e["type"] == "state"] == ["running", "paused", "running", "stopped"]
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000001"


def test_a_dying_rank_makes_the_run_crashed(tmp_path):
    (tmp_path / "dying.py").write_text(DYING_VERIFIER)
    run_dir = tmp_path / "run"
    result = _train(str(_trl_config(tmp_path, task={"arith": {"digits": 2, "train_size": 40, "eval_size": 8},
                                                    "verifier": "python:dying:check"})),
                    "--run-dir", str(run_dir), env={"PACS_TEST_DIE": str(tmp_path / "called")})
    assert result.returncode == 1
    info = _run_json(run_dir)
    assert info["status"] == "crashed" and "exited with code" in info["error"]["message"]
    assert _events(run_dir)[-1] == {**_events(run_dir)[-1], "type": "state", "status": "crashed"}


def test_vllm_asked_but_absent_says_how_to_install(write_config):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    err = _error(write_config, engine="trl", **{"rollout.engine": "vllm", "optim.mini_batch_prompts": 4})
    (issue,) = err.issues
    assert issue.key == "rollout.engine" and "pip install 'pacslab[vllm]'" in issue.fix
    assert {i.key for i in _error(write_config, **{"rollout.engine": "vllm"}).issues} == {"rollout.engine"}
