"""Sweeps on this machine, end to end: a detached controller runs a grid × seeds as ordinary runs,
is killed and started again without rerunning a finished trial; a tpe sweep prunes with Optuna's
median pruner and the pruned run says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import run_json, wait_for
from pacslab.sweep.controller import POLL_ENV, POLL_S, poll_s

TINY = {  # the embedded default model (builtin:arith-tiny) on a task small enough for seconds per run
    "device": "cpu", "total_steps": 2, "eval_every": 1, "checkpoint_every": 0,
    "task": {"type": "arith", "arith": {"digits": 1, "train_size": 40, "eval_size": 8}},
    "rollout": {"prompts_per_step": 2, "n": 2, "max_new_tokens": 3},
    "optim": {"lr": 0.001, "mini_batch_prompts": 2, "micro_batch_prompts": 2},
    "eval": {"size": 4, "samples": 2, "k": [1, 2], "batch_prompts": 4},
    "logging": {"system_every_s": 0, "rollouts_every": 0},
}


POLL = {POLL_ENV: "0.05"}  # runs of a second: a pruned trial's run is stopped while it trains, the next trial starts sooner


def pacslab(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pacslab", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **POLL, **(env or {})})


def sweep_dir_of(out: str) -> Path:
    return Path(next(line for line in out.splitlines() if line.startswith("sweep directory: ")).split(": ", 1)[1])


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def test_a_grid_of_two_by_two_by_two_seeds_survives_a_killed_controller(tmp_path):
    config = tmp_path / "grid.pacs.yaml"
    config.write_text(yaml.safe_dump({"name": "grid", **TINY, "sweep": {
        "parameters": {"optim.lr": [0.001, 0.003], "pacs.beta": [0.5, 1.0]}, "seeds": [0, 1], "parallel": 2}}))
    started = pacslab("sweep", str(config), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    sweep_dir = sweep_dir_of(started.stdout)
    info = read(sweep_dir / "sweep.json")
    assert info["n_trials"] == 4 and info["n_runs"] == 8 and info["status"] == "running"

    def trials():
        return read(sweep_dir / "trials.json").get("trials", [])

    wait_for(lambda: any(t["state"] == "complete" for t in trials()), what="a finished trial", timeout=400)
    before = {t["number"]: [r["run_id"] for r in t["runs"]] for t in trials() if t["state"] == "complete"}
    os.kill(read(sweep_dir / "sweep.json")["controller"]["pid"], signal.SIGKILL)
    wait_for(lambda: json.loads(pacslab("sweep", "--status", "--json", cwd=tmp_path).stdout)[0]["status"] == "crashed",
             what="the sweep shown crashed once its controller is gone", timeout=60)

    again = pacslab("sweep", str(config), cwd=tmp_path)  # starting it again resumes it
    assert again.returncode == 0 and f"resuming sweep {sweep_dir.name}" in again.stdout, again.stdout + again.stderr
    wait_for(lambda: read(sweep_dir / "sweep.json").get("status") in ("finished", "failed"), what="the sweep's end", timeout=600)
    info = read(sweep_dir / "sweep.json")
    assert info["status"] == "finished", (sweep_dir / "controller.log").read_text()
    assert info["counts"] == {"running": 0, "complete": 4, "pruned": 0, "failed": 0, "total": 4}
    done = trials()
    for number, run_ids in before.items():  # a trial finished before the kill kept its runs: nothing ran twice
        assert [r["run_id"] for r in done[number]["runs"]] == run_ids
    runs = [run_json(d) for d in (tmp_path / ".pacs" / "runs").iterdir()]
    assert len(runs) == 8 and all(r["status"] == "finished" for r in runs)
    assert {(r["sweep"]["trial"], r["sweep"]["seed"]) for r in runs} == {(t, s) for t in range(4) for s in (0, 1)}
    assert all(r["sweep"]["id"] == sweep_dir.name and r["seed"] == r["sweep"]["seed"] for r in runs)
    assert sorted(json.dumps(t["params"], sort_keys=True) for t in done) == sorted(
        json.dumps({"optim.lr": lr, "pacs.beta": b}, sort_keys=True) for lr in (0.001, 0.003) for b in (0.5, 1.0))
    best = info["best"]
    assert best["trial"] in range(4) and best["value"] == max(t["value"] for t in done) and len(best["runs"]) == 2
    listing = pacslab("sweep", "--status", cwd=tmp_path).stdout
    assert f"trial {best['trial']}" in listing and "finished" in listing
    importance = read(sweep_dir / "importance.json")
    assert importance["trials"] == 4


def test_a_tpe_sweep_with_the_median_pruner_prunes_and_the_run_says_why(tmp_path):
    config = tmp_path / "lr.pacs.yaml"
    config.write_text(yaml.safe_dump({"name": "lr", **TINY, "total_steps": 30, "eval_every": 0, "eval": {**TINY["eval"], "size": 2}}))
    sweep_file = tmp_path / "lr.sweep.yaml"  # a contrived metric: optim/lr, logged every step, is the learning rate itself
    sweep_file.write_text(yaml.safe_dump({"base": "lr.pacs.yaml", "method": "tpe", "max_runs": 6, "prune": "median",
                                          "prune_startup_trials": 2, "sampler_seed": 1,
                                          "metric": {"name": "optim/lr", "goal": "maximize"},
                                          "parameters": {"optim.lr": {"low": 1e-5, "high": 1e-1, "log": True}}}))
    done = pacslab("sweep", str(sweep_file), "--foreground", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = sweep_dir_of(done.stdout)
    trials = read(sweep_dir / "trials.json")["trials"]
    assert len(trials) == 6
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, json.dumps(trials, indent=1)
    for t in pruned:
        assert t["pruned"]["step"] >= 1 and "median" in t["pruned"]["reason"] and "optim/lr" in t["pruned"]["reason"]
        run = run_json(Path(t["runs"][0]["run_dir"]))
        assert run["sweep"]["trial_state"] == "pruned" and run["sweep"]["pruned"] == t["pruned"]
        assert run["status"] == "stopped" and run["step"] < 30  # stopped early, with a checkpoint
        assert (Path(t["runs"][0]["run_dir"]) / "checkpoints" / "latest").is_file()
    info = read(sweep_dir / "sweep.json")
    assert info["status"] == "finished" and info["counts"]["pruned"] == len(pruned)
    complete = [t for t in trials if t["state"] == "complete"]
    assert info["best"]["value"] == max(t["value"] for t in complete)


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = tmp_path / "mb.pacs.yaml"  # mini_batch_prompts 3 does not divide prompts_per_step 2: that trial's run fails
    config.write_text(yaml.safe_dump({"name": "mb", **TINY, "optim": {**TINY["optim"], "micro_batch_prompts": 1},
                                      "sweep": {"parameters": {"optim.mini_batch_prompts": [2, 3]}}}))
    done = pacslab("sweep", str(config), "--foreground", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = sweep_dir_of(done.stdout)
    trials = {t["params"]["optim.mini_batch_prompts"]: t for t in read(sweep_dir / "trials.json")["trials"]}
    assert trials[2]["state"] == "complete" and trials[3]["state"] == "failed"
    failed_run = trials[3]["runs"][0]
    assert trials[3]["error"] == f"run {failed_run['run_id']} ended failed"
    assert "optim.mini_batch_prompts" in run_json(Path(failed_run["run_dir"]))["error"]["message"]
    info = read(sweep_dir / "sweep.json")
    assert info["status"] == "finished" and info["counts"]["failed"] == 1 and info["best"]["trial"] == trials[2]["number"]


def test_the_poll_interval_is_the_default_or_the_environment_s_and_a_bad_one_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(POLL_ENV, raising=False)
    assert poll_s() == POLL_S == 1.0
    monkeypatch.setenv(POLL_ENV, "0.25")
    assert poll_s() == 0.25
    for bad in ("0", "-1", "nan", "inf", "61", "fast", ""):
        monkeypatch.setenv(POLL_ENV, bad)
        with pytest.raises(ValueError, match=f"{POLL_ENV} is {bad!r}: .* above 0 and at most 60"):
            poll_s()
    config = tmp_path / "one.pacs.yaml"
    config.write_text(yaml.safe_dump({"name": "one", **TINY, "sweep": {"parameters": {"optim.lr": [0.001]}}}))
    refused = pacslab("sweep", str(config), "--foreground", cwd=tmp_path, env={POLL_ENV: "fast"})
    assert refused.returncode == 2 and f"{POLL_ENV} is 'fast'" in refused.stderr, refused.stdout + refused.stderr
    assert not (tmp_path / ".pacs").exists()  # refused before any sweep folder or run


class _Killed(BaseException):
    """The controller's SIGKILL, landing between recording a run and spawning its trainer."""


def _killed_at(tmp_path, monkeypatch, step: str) -> tuple[Path, Path]:
    """A one-run sweep whose controller is killed when it calls `pacslab.sweep.runs.<step>`; returns
    its folder and the run's. The patch is undone and the test's poll interval set for the resume."""
    from pacslab.sweep import cli, runs

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "one.pacs.yaml"
    config.write_text(yaml.safe_dump({"name": "one", **TINY, "sweep": {"parameters": {"optim.lr": [0.001]}, "seeds": [0]}}))

    def killed(*_a, **_k):
        raise _Killed

    monkeypatch.setattr(runs, step, killed)
    try:
        cli.main([str(config), "--foreground"])
    except _Killed:
        pass
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(POLL_ENV, POLL[POLL_ENV])
    sweep_dir = next((tmp_path / ".pacs" / "sweeps").iterdir())
    (run,) = read(sweep_dir / "trials.json")["trials"][0]["runs"]
    assert run["run_dir"], run
    return sweep_dir, Path(run["run_dir"])


def test_a_run_recorded_but_never_spawned_before_a_kill_is_started_on_resume(tmp_path, monkeypatch):
    from pacslab.sweep.controller import Controller

    sweep_dir, run_dir = _killed_at(tmp_path, monkeypatch, "spawn_run")
    assert run_json(run_dir)["status"] == "starting"  # recorded, never spawned
    assert Controller(sweep_dir, log=lambda _text: None).run() == "finished"
    (trial,) = read(sweep_dir / "trials.json")["trials"]
    assert trial["state"] == "complete", trial
    assert trial["runs"][0]["run_dir"] == str(run_dir) and run_json(run_dir)["status"] == "finished"
    assert len(list((tmp_path / ".pacs" / "runs").iterdir())) == 1


def test_a_trainer_spawned_but_not_recorded_before_a_kill_is_followed_not_started_twice(tmp_path, monkeypatch):
    """The kill lands after the trainer's spawn and before launcher.json: the resumed controller finds
    that trainer still starting (run.json has no pid for the seconds Python takes to start), follows
    it and starts no second one (which would find the run locked and be read as a crash)."""
    from pacslab.sweep import runs
    from pacslab.sweep.controller import Controller

    sweep_dir, run_dir = _killed_at(tmp_path, monkeypatch, "record_launcher")
    assert not (run_dir / "launcher.json").exists(), "not recorded"
    wait_for(lambda: runs.trainers_of(run_dir), what="the spawned trainer in /proc", timeout=5)
    lines = []
    assert Controller(sweep_dir, log=lines.append).run() == "finished"
    (trial,) = read(sweep_dir / "trials.json")["trials"]
    assert trial["state"] == "complete", (trial, lines)
    assert any("but not recorded; following it" in line for line in lines), lines
    log = (run_dir / "trainer.log").read_text()
    assert log.count("run finished:") == 1 and "in use by pid" not in log, log
