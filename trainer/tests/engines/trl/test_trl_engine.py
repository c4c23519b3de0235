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
from pacslab.run import records as records_io
from pacslab.config import ConfigError, load_config
from pacslab.engines.trl.loss import coupled_loss, labels_gradient, shuffle_groups, whole_groups
from pacslab.engines.trl.trainer import pacs_micro_loss
from pacslab.losses import pacs_loss

pytest.importorskip("trl")

WORKERS = Path(__file__).parent / "trl_workers"


def torchrun(script: str, *args: str, processes: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "OMP_NUM_THREADS": "1", "DISABLE_MLFLOW_INTEGRATION": "TRUE"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(processes), str(WORKERS / script), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def two_process_reports(tmp_path_factory) -> list[dict]:
    """The reports of trl_workers/exactness.py on 2 processes: one launch for all its checks."""
    out = tmp_path_factory.mktemp("exactness")
    result = torchrun("exactness.py", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank-{r}.json").read_text()) for r in range(2)]


def test_two_processes_give_the_one_process_pacs_gradient(two_process_reports):
    """Groups split across the 2 ranks and their micro-batches, and whole groups per micro-batch."""
    for report in two_process_reports:
        assert report["world"] == 2 and report["grad_norm"] > 0.1
        assert set(report["errors"]) == {"whole_groups", "split_groups"}
        for layout, error in report["errors"].items():
            assert error <= 1e-6, f"{layout}: relative gradient error {error}"


def test_the_trainer_batches_whole_groups_and_its_gradient_is_pacs_loss(two_process_reports):
    """PacsGRPOTrainer with accumulation 2: whole groups in every micro-batch by default (the
    pacs_loss path), the coupled path where a rank's rows split a group; both exact."""
    for report in two_process_reports:
        whole, split = report["trainer"]["whole_groups"], report["trainer"]["split_groups"]
        assert whole["paths"] == [True, True], "a micro-batch of the whole-group layout was not whole groups"
        assert split["paths"] == [False, False]
        for layout, result in report["trainer"].items():
            assert result["error"] <= 1e-6, f"{layout}: relative gradient error {result['error']}"


def test_the_shared_evaluation_equals_a_one_process_one(two_process_reports):
    for report in two_process_reports:
        shared, alone = report["eval"]["shared"], report["eval"]["alone"]
        assert shared == alone
        assert {"eval/accuracy", "eval/pass@1", "eval/pass@3", "eval/extra/accuracy", "eval/extra/pass@2",
                "eval/extra/source=a/accuracy", "eval/extra/source=b/pass@2"} <= set(shared)
        assert 0 < shared["eval/pass@1"] < 1 and 0 < shared["eval/extra/pass@2"] < 1, "the labels should vary"
    assert two_process_reports[0]["eval"] == two_process_reports[1]["eval"]


def test_whole_group_shuffle_keeps_groups_together():
    torch.manual_seed(0)
    batch = {"ids": torch.arange(12).reshape(6, 2), "names": list("aabbcc"), "scalar": torch.tensor(3.0), "none": None}
    shuffled = shuffle_groups(batch, 2)
    assert shuffled["scalar"] is batch["scalar"] and shuffled["none"] is None
    pairs = shuffled["ids"][:, 0].reshape(3, 2)  # [G, n]
    assert torch.equal(pairs[:, 1], pairs[:, 0] + 2) and sorted(pairs[:, 0].tolist()) == [0, 4, 8]
    assert shuffled["names"] == [batch["names"][i] for i in (shuffled["ids"][:, 0] // 2).tolist()]
    orders = {tuple(shuffle_groups(batch, 2)["names"]) for _ in range(20)}
    assert len(orders) > 1, "never shuffled"
    assert sorted(shuffle_groups(batch, 4)["names"]) == list("aabbcc")  # 6 rows are no whole groups of 4: by rows


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
    got, whole = pacs_micro_loss(logp, old, mask, labels, groups, c, rollout_n=4, beta=1.0, processes=1, accumulation=1)
    assert whole and torch.equal(got, want)


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
    cfg = load_config(write_config(engine="trl", trl={"ddp_timeout": 600},
                                   **{"launch.num_processes": 2, "optim.mini_batch_prompts": 4}))
    assert cfg.engine == "trl" and cfg.launch.num_processes == 2 and cfg.trl == {"ddp_timeout": 600}


def test_every_grpo_config_field_the_engine_sets_is_refused_in_the_trl_section(write_config, tmp_path, monkeypatch):
    """A trl: key for a field grpo_args sets itself would reach GRPOConfig twice (a TypeError at
    launch): the config check must name it instead."""
    import trl

    from pacslab.engines.trl import run
    from pacslab.engines.trl.checks import OWNED_FIELDS

    cfg = load_config(write_config(engine="trl", **{"optim.mini_batch_prompts": 4, "optim.schedule": "warmup_cosine"}))
    seen = {}
    monkeypatch.setattr(trl, "GRPOConfig", lambda **kwargs: seen.update(kwargs))
    run.grpo_args(cfg, tmp_path, cuda=False)
    set_by_engine = set(seen) - {"gradient_accumulation_steps", "disable_dropout"}  # the fields the trl section may set
    assert "lr_scheduler_kwargs" in set_by_engine and set_by_engine - set(OWNED_FIELDS) == set()


def test_trl_fields_are_checked_against_grpo_config(write_config):
    err = _error(write_config, engine="trl", trl={"logging_step": 1, "learning_rate": 0.1},
                 **{"optim.mini_batch_prompts": 4})
    issues = {i.key: i for i in err.issues}
    assert set(issues) == {"trl.logging_step", "trl.learning_rate"}
    assert "not a field of trl.GRPOConfig" in issues["trl.logging_step"].problem
    assert "optim.lr" in issues["trl.learning_rate"].fix


def test_options_the_trl_engine_cannot_honour_are_config_errors(write_config):
    err = _error(write_config, engine="trl", **{"rollout.prompts_per_step": 3, "rollout.n": 3,
                                                "optim.mini_batch_prompts": 3, "optim.micro_batch_prompts": 1,
                                                "launch.num_processes": 2})
    assert {i.key for i in err.issues} == {"optim.mini_batch_prompts"}
    assert "9 responses do not split evenly over 2 processes" in err.issues[0].problem
    # several mini-batches: each process must hold whole groups of every mini-batch
    err = _error(write_config, engine="trl", **{"rollout.prompts_per_step": 4, "optim.mini_batch_prompts": 1,
                                                "launch.num_processes": 2})
    assert [i.key for i in err.issues] == ["optim.mini_batch_prompts"] and "multiple of 2" in err.issues[0].fix
    assert {i.key for i in _error(write_config, engine="trl", algorithm="dr_grpo").issues} == {"algorithm"}


def test_several_updates_per_rollout_batch_map_onto_trl(write_config, tmp_path):
    """4 mini-batches × 2 epochs: TRL's steps_per_generation and num_iterations, and its step counts
    (max_steps, saves, logging, warm-up) in optimizer steps; mean_logp is accepted."""
    from pacslab.engines.trl.run import grpo_args, updates_per_step

    cfg = load_config(write_config(engine="trl", total_steps=5, checkpoint_every=2, trl={"gradient_accumulation_steps": 2},
                                   **{"rollout.prompts_per_step": 8, "rollout.n": 4, "optim.mini_batch_prompts": 2,
                                      "optim.micro_batch_prompts": 1, "optim.epochs": 2, "optim.warmup_steps": 1,
                                      "pacs.reward_method": "mean_logp", "launch.num_processes": 2}))
    args = grpo_args(cfg, tmp_path, cuda=False)
    assert updates_per_step(cfg) == 8
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.steps_per_generation) == (2, 2, 8)
    assert args.num_iterations == 2 and args.max_steps == 40 and args.save_steps == 16 and args.logging_steps == 8
    assert args.warmup_steps == 8 and args.disable_dropout


@pytest.mark.parametrize(("algorithm", "beta"), [("grpo", 0.1), ("rloo", 0.0), ("pacs", 0.0)])
def test_trl_takes_a_kl_term_only_where_the_native_loss_has_one(write_config, tmp_path, algorithm, beta):
    """grpo.kl_coef is TRL's beta for grpo; rloo's and pacs's native losses have no KL, so TRL loads no
    reference model for them."""
    from pacslab.engines.trl.run import grpo_args

    cfg = load_config(write_config(engine="trl", algorithm=algorithm, **{"grpo.kl_coef": 0.1, "rollout.n": 2}))
    assert grpo_args(cfg, tmp_path, cuda=False).beta == beta


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
           "eval": {"size": 4, "samples": 2, "k": [1, 2], "batch_prompts": 2},
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


LAUNCHER_IMPORTS = """
import sys
from types import SimpleNamespace

from pacslab.engines.trl import launch

launch.subprocess = SimpleNamespace(run=lambda command, env: SimpleNamespace(returncode=0))  # the ranks, not started
from pacslab.cli import main

assert main(["train", sys.argv[1], "--run-dir", sys.argv[2]]) == 0
print(sorted(m for m in ("torch", "transformers", "trl") if m in sys.modules))
"""


def test_the_launcher_process_imports_no_torch(tmp_path):
    """`python -m pacslab train` of an engine: trl run checks the config, loads the verifier in a worker,
    makes the run folder and starts the launcher: it imports no torch (seconds before any rank starts)."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER_IMPORTS, str(_trl_config(tmp_path)), str(tmp_path / "run")],
                          env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
    assert _run_json(tmp_path / "run")["engine"] == "trl"


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _wait_for_status(process, run_dir: Path, status: str) -> None:
    import time

    deadline = time.monotonic() + 240
    while not ((run_dir / "run.json").exists() and _run_json(run_dir).get("status") == status):
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, f"the run never became {status}"
        time.sleep(0.5)


def test_pause_checkpoint_suspend_then_resume_finishes_six_steps_on_two_processes(tmp_path):
    """One pair of 2-process runs: pause holds both ranks, a checkpoint and a suspend while paused
    end the first run at step 1, the resumed run finishes with rollouts, evaluations and checkpoints."""
    from pacslab.run.control import append_command

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append_command(run_dir, "pause")  # read at the first step's end
    config = _trl_config(tmp_path, eval_every=3)
    first = _train(str(config), "--run-dir", str(run_dir), wait=False)
    try:
        _wait_for_status(first, run_dir, "paused")
        append_command(run_dir, "checkpoint")
        append_command(run_dir, "suspend")
        assert first.wait(timeout=240) == 0, first.stdout.read()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    info = _run_json(run_dir)
    assert (info["status"], info["step"], info["engine"], info["world_size"]) == ("suspended", 1, "trl", 2)
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000001"
    assert [(e["command"], e["result"]) for e in _events(run_dir) if e["type"] == "control_ack"] == [
        ("pause", "ok"), ("checkpoint", "ok"), ("suspend", "ok")]
    # as on the native engine (run/control.py obey): a suspend while paused ends the run paused -> suspended
    assert [e["status"] for e in _events(run_dir) if e["type"] == "state"] == ["running", "paused", "suspended"]

    second = _train("--resume", str(run_dir))
    assert second.returncode == 0, second.stderr[-3000:]
    info = _run_json(run_dir)
    assert (info["status"], info["step"]) == ("finished", 6)
    events = _events(run_dir)
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1, 2, 3, 4, 5, 6]
    values = next(e["values"] for e in events if e["type"] == "metrics")
    assert {"reward/mean", "pacs/loss", "optim/grad_norm", "trl/loss"} <= set(values)
    assert all(e["values"]["pacs/whole_group_frac"] == 1.0 for e in events if e["type"] == "metrics")
    assert any(e["values"]["optim/grad_norm"] > 0 for e in events if e["type"] == "metrics"), "no learning signal"
    evals = [e for e in events if e["type"] == "eval"]  # as the native engine: step 0, eval_every, the last step
    assert [e["step"] for e in evals] == [0, 3, 6]
    assert all(set(e["values"]) == {"eval/accuracy", "eval/pass@1", "eval/pass@2", "perf/eval_s"} for e in evals)
    assert all(0 <= e["values"]["eval/pass@1"] <= e["values"]["eval/pass@2"] <= 1 for e in evals)
    assert [e["path"] for e in events if e["type"] == "checkpoint"] == [
        "checkpoints/step-000001", "checkpoints/step-000003", "checkpoints/step-000006"]
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000006"
    records, _ = records_io.read_step(run_dir, 6)
    assert len(records) == 16 and {r["group"] for r in records} == {0, 1, 2, 3}
    for record in records:
        assert record["reward"] in (0.0, 1.0) and record["response"] is not None and record["answer"]
        assert record["grad_weight"] == record["reward"] - record["p_correct"] and record["weight"] > 0
        assert "detail" in record["verifier"]
    # the prompt ledger and the held-out examples, as the native engine writes them (pacslab/health)
    from pacslab.health.alerts import AlertMonitor
    from pacslab.health.ledger import read_ledger

    ledger = read_ledger(run_dir / "ledger.jsonl")
    assert sorted({row[0] for row in ledger}) == [1, 2, 3, 4, 5, 6] and len(ledger) == 24
    by_group = {}
    for r in records:
        by_group.setdefault(r["group"], []).append(r)
    assert [row[1:] for row in ledger if row[0] == 6] == [
        (rows[0]["prompt_id"], None, sum(r["reward"] > 0 for r in rows), 4) for _, rows in sorted(by_group.items())]
    assert [e["step"] for e in events if e["type"] == "heldout"] == [0, 3, 6]
    rows = [json.loads(line) for e in events if e["type"] == "heldout" for line in (run_dir / e["file"]).read_text().splitlines()]
    assert rows and all(sum(r["labels"]) == r["correct"] and len(r["labels"]) == r["samples"] and r["answer"] for r in rows)
    # the alerts are the shared rules' verdicts on the recorded metrics (resumed at step 1: one monitor over them all)
    from pacslab.config import load_config

    monitor = AlertMonitor(load_config(run_dir / "config.yaml").alerts, loss_metric="pacs/loss")
    expected = [(a.rule, a.step) for e in events if e["type"] in ("metrics", "eval")
                for a in (monitor.observe if e["type"] == "metrics" else monitor.observe_eval)(e["step"], e["values"])]
    assert [(e["rule"], e["step"]) for e in events if e["type"] == "alert"] == expected


@pytest.mark.parametrize("command, status", [("stop", "stopped"), ("suspend", "suspended")])
def test_stop_and_suspend_save_then_end_the_run(tmp_path, command, status):
    """The callback's side of stop and suspend (the 2-process run above suspends while paused)."""
    from types import SimpleNamespace

    from transformers import TrainerControl

    from pacslab.run import files as runio
    from pacslab.run.control import append_command
    from pacslab.integrations.trl import PacsLabCallback

    callback = PacsLabCallback(SimpleNamespace(accelerator=SimpleNamespace(is_main_process=True)), tmp_path)
    callback.info, callback.events = runio.RunInfo(tmp_path), runio.EventLog(tmp_path)
    append_command(tmp_path, command)
    control = callback.on_step_end(None, SimpleNamespace(global_step=2), TrainerControl())
    assert control.should_save and control.should_training_stop
    callback.on_train_end(None, SimpleNamespace(global_step=2), control)
    assert (_run_json(tmp_path)["status"], _run_json(tmp_path)["step"]) == (status, 2)
    events = _events(tmp_path)
    assert [(e["command"], e["result"]) for e in events if e["type"] == "control_ack"] == [(command, "ok")]
    assert [e["status"] for e in events if e["type"] == "state"] == [status]


def test_a_dying_rank_makes_the_run_crashed(tmp_path):
    (tmp_path / "dying.py").write_text(DYING_VERIFIER)
    run_dir = tmp_path / "run"
    result = _train(str(_trl_config(tmp_path, task={"arith": {"digits": 2, "train_size": 40, "eval_size": 8},
                                                    "verifier": "python:dying:check"})),
                    "--run-dir", str(run_dir), env={"PACS_TEST_DIE": str(tmp_path / "called")})
    assert result.returncode == 1
    info = _run_json(run_dir)
    assert info["status"] == "crashed"
    message = info["error"]["message"]  # rank 1 is named by the launcher (engines/trl/launch.py run_end)
    assert message.startswith("rank 1 (pid ") and "exited with code 7 without recording an error" in message
    *_, error, state, finished = _events(run_dir)  # run/lifecycle.py end_run: error, state, run_finished
    assert error["type"] == "error" and error["message"] == message
    assert (state["type"], state["status"], finished["type"], finished["status"]) == ("state", "crashed", "run_finished", "crashed")


def test_vllm_asked_but_absent_says_how_to_install(write_config):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    err = _error(write_config, engine="trl", **{"rollout.engine": "vllm", "optim.mini_batch_prompts": 4})
    (issue,) = err.issues
    assert issue.key == "rollout.engine" and "pip install 'pacslab[vllm]'" in issue.fix
    assert {i.key for i in _error(write_config, **{"rollout.engine": "vllm"}).issues} == {"rollout.engine"}
