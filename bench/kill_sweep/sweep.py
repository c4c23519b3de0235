"""Kill sweep: `kill -9` a trainer at random moments of short runs, then check what is left.

Every killed run must read `crashed` (run.json says a live status, its process is gone; a run
killed before the trainer recorded its process has no status yet), and then either resume to `finished` with the metrics of a run never killed, or be refused clearly (exit 2,
"not a run directory") when the kill came before the trainer wrote its config. No output, of the
killed trainer or of the resume, may hold a Python traceback.

    python bench/kill_sweep/run.py [--kills 20] [--seed 0]     # the full sweep, result in bench/results/
    trainer/tests/test_kill_sweep.py                           # the short form (3 kills) in the test suite
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pacslab.run import files as runio

CONFIG = {
    "name": "sweep", "seed": 3, "device": "cpu", "total_steps": 12, "eval_every": 4, "checkpoint_every": 3,
    "model": {"path": "model"},
    "task": {"type": "arith", "arith": {"digits": 1, "train_size": 60, "eval_size": 12, "seed": 5}},
    "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
    "optim": {"lr": 0.01, "mini_batch_prompts": 2, "micro_batch_prompts": 1},
    "eval": {"size": 4, "samples": 2, "k": [1, 2], "batch_prompts": 4},
}
RESUME_TIMEOUT_S = 300


def trainer(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pacslab", *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def final_metrics(run_dir: Path) -> list[tuple[int, dict]]:
    """The last values logged at each (step, event type) without perf/ and system/ (times and the
    machine's load): what a resumed run must reproduce."""
    last: dict[tuple[int, str], dict] = {}
    for e in runio.read_jsonl(run_dir / runio.EVENTS)[0]:
        if e.get("type") in ("metrics", "eval"):
            values = {k: v for k, v in e["values"].items() if not k.startswith(("perf/", "system/"))}
            last[(e["step"], e["type"])] = values
    return sorted(last.items())


def reference(config: Path, workdir: Path) -> tuple[float, float, list]:
    """One run never killed: (seconds until it starts training, its wall time, its metrics)."""
    run_dir = workdir / "reference"
    t0 = time.monotonic()
    proc = trainer("train", str(config), "--run-dir", str(run_dir), cwd=config.parent, log=workdir / "reference.log")
    started = None
    while proc.poll() is None:
        if started is None and (run_dir / runio.EVENTS).exists():
            started = time.monotonic() - t0
        time.sleep(0.05)
    if proc.returncode != 0:
        raise RuntimeError(f"the reference run failed: see {workdir / 'reference.log'}")
    total = time.monotonic() - t0
    return started or total / 2, total, final_metrics(run_dir)


def one_kill(config: Path, workdir: Path, index: int, delay: float, expected: list) -> dict:
    run_dir, log = workdir / f"run-{index:02d}", workdir / f"run-{index:02d}.log"
    t0 = time.monotonic()
    proc = trainer("train", str(config), "--run-dir", str(run_dir), cwd=config.parent, log=log)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = True
    info = runio.detect_crash(run_dir) or {}
    trial = {"index": index, "delay_s": round(delay, 3), "killed": killed, "status_after_kill": info.get("status"),
             "step_at_kill": info.get("step"), "checkpoint": getattr(runio.latest_checkpoint(run_dir), "name", None),
             "ran_s": round(time.monotonic() - t0, 3)}
    if info.get("status") == "finished":  # the kill came after the run's end (or never)
        trial["outcome"] = "finished before the kill"
    elif not killed:
        trial["outcome"] = f"bad: exited by itself with status {info.get('status')}"
    else:
        resume_log = workdir / f"run-{index:02d}.resume.log"
        code = trainer("train", "--resume", str(run_dir), cwd=config.parent, log=resume_log).wait(timeout=RESUME_TIMEOUT_S)
        after = runio.read_json(run_dir / runio.RUN_JSON) or {}
        text = resume_log.read_text(errors="replace")
        trial.update(resume_exit=code, status_after_resume=after.get("status"))
        if trial["status_after_kill"] not in ("crashed", None):
            trial["outcome"] = f"bad: {trial['status_after_kill']} after the kill"
        elif code == 0 and after.get("status") == "finished":
            same = final_metrics(run_dir) == expected
            trial["outcome"] = "resumed to finished" if same else "bad: resumed with other metrics"
        elif code == 2 and "not a run directory" in text:
            trial["outcome"] = "not resumable (killed before the trainer wrote its config)"
        else:
            trial["outcome"] = f"bad: resume exited {code} with status {after.get('status')}"
    logs = [p.read_text(errors="replace") for p in workdir.glob(f"run-{index:02d}*.log")]
    if any("Traceback" in text for text in logs):
        trial["outcome"] = "bad: a traceback in the output"
    return trial


def sweep(config: Path, workdir: Path, *, kills: int, seed: int) -> dict:
    """Trials until `kills` trainers were killed (at most 3·kills trials). Half of the kills fall
    anywhere in a run (start-up included), half once training has started; a run that finishes
    before its kill shortens the window of the next ones to the fastest run seen."""
    workdir.mkdir(parents=True, exist_ok=True)
    started, duration, expected = reference(config, workdir)
    rng = random.Random(seed)
    trials: list[dict] = []
    while sum(t["killed"] for t in trials) < kills and len(trials) < 3 * kills:
        low = 0.0 if len(trials) % 2 == 0 else min(started, duration * 0.8)
        trial = one_kill(config, workdir, len(trials), rng.uniform(low, duration), expected)
        if not trial["killed"]:
            duration = min(duration, trial["ran_s"])
        trials.append(trial)
    outcomes: dict[str, int] = {}
    for t in trials:
        outcomes[t["outcome"]] = outcomes.get(t["outcome"], 0) + 1
    return {"kills": sum(t["killed"] for t in trials), "trials_run": len(trials), "seed": seed,
            "reference_training_starts_s": round(started, 2), "outcomes": outcomes,
            "bad": sum(t["outcome"].startswith("bad") for t in trials), "trials": trials}


def write_config(folder: Path, model_dir: Path) -> Path:
    import yaml

    link = folder / "model"
    if not link.exists():
        link.symlink_to(model_dir, target_is_directory=True)
    path = folder / "sweep.pacs.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return path

