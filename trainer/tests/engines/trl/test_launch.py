"""engine: trl's launcher: how a run ends when one of its processes fails (launch.py's run_end, from
agent.py's report), and a real 2-process run with one rank killed by SIGKILL mid-run, then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TRAINER_DIR
from pacslab.engines.trl.launch import run_end
from pacslab.run import files as runio
from pacslab.run.lock import pid_start_time, process_alive

pytest.importorskip("trl")

from test_trl_engine import _events, _run_json, _train, _trl_config  # noqa: E402

GLOO_RESET = "RuntimeError: [gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:25244: Connection reset by peer."
OUTPUT = "See /runs/r/trainer.log for each process's output."


def failure(rank, exitcode, *, message=None, traceback=None, timestamp=100, pid=None) -> dict:
    signal_name = signal.Signals(-exitcode).name if exitcode < 0 else None
    return {"rank": rank, "pid": pid or 1000 + rank, "exitcode": exitcode, "signal": signal_name, "message": message,
            "traceback": traceback, "timestamp": timestamp}


def test_a_killed_rank_is_named_before_the_ranks_that_lost_it_or_were_stopped():
    """torch elastic reports the survivors in the same second, even first: rank 0's error says only
    that its peer is gone, rank 0 stopped by the launcher (SIGTERM); the cause is rank 1's SIGKILL."""
    for others in ([failure(0, 1, message=GLOO_RESET)], [failure(0, -15)]):
        status, error, traceback = run_end([*others, failure(1, -9)], 1, OUTPUT)
        assert status == "crashed" and traceback is None
        assert error.startswith("rank 1 (pid 1001) was killed by signal SIGKILL")
        assert "out-of-memory killer" in error and error.endswith("the launcher stopped the other processes. " + OUTPUT)


def test_a_rank_that_recorded_its_own_error_failed_the_run_with_its_traceback():
    status, error, traceback = run_end([failure(0, 1, message=GLOO_RESET), failure(1, 1, message="ValueError: bad row",
                                                                                    traceback="Traceback ...")], 1, OUTPUT)
    assert (status, traceback) == ("failed", "Traceback ...")
    assert error.startswith("rank 1 (pid 1001) failed: ValueError: bad row;")


def test_what_says_no_more_is_worded_as_it_is():
    status, error, _ = run_end([failure(1, 7), failure(0, -15)], 1, OUTPUT)
    assert status == "crashed" and error.startswith("rank 1 (pid 1001) exited with code 7 without recording an error")
    # every rank lost its peers (a process of another machine is gone): the first observed one
    status, error, _ = run_end([failure(1, 1, message=GLOO_RESET, timestamp=99), failure(0, 1, message=GLOO_RESET)], 1, OUTPUT)
    assert status == "crashed" and error.startswith("another training process is gone: rank 1 (pid 1001) lost its peers")
    # SIGTERM on every rank (a user's kill, then the launcher's): the first observed
    assert run_end([failure(1, -15), failure(0, -15)], 1, OUTPUT)[1].startswith("rank 1 (pid 1001) was killed by signal SIGTERM;")
    status, error, _ = run_end([], 1, OUTPUT)
    assert (status, error) == ("crashed", f"the launcher exited with code 1 before any training process failed. {OUTPUT}")
    assert run_end([], -9, OUTPUT)[1].startswith("the launcher was killed by signal SIGKILL before")


def test_the_agent_reports_what_torch_elastic_knows_of_each_failed_process(tmp_path):
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from pacslab.engines.trl.agent import failures_of

    error_file = tmp_path / "error.json"  # as torch elastic's @record writes it in a rank
    error_file.write_text(json.dumps({"message": {"message": "ValueError: bad row", "extraInfo": {
        "py_callstack": "Traceback ...", "timestamp": "123"}}}))
    error = ChildFailedError("pacslab.engines.trl.run", {
        1: ProcessFailure(local_rank=1, pid=11, exitcode=-9, error_file=str(tmp_path / "none.json")),
        0: ProcessFailure(local_rank=0, pid=10, exitcode=1, error_file=str(error_file)),
        2: ProcessFailure(local_rank=2, pid=12, exitcode=3, error_file=str(tmp_path / "none.json"))})
    rows = failures_of(error)
    assert [(r["rank"], r["pid"], r["exitcode"], r["signal"], r["message"], r["traceback"]) for r in rows] == [
        (1, 11, -9, "SIGKILL", None, None), (0, 10, 1, None, "ValueError: bad row", "Traceback ..."),
        (2, 12, 3, None, None, None)]
    assert rows[1]["timestamp"] == 123


# ---------------------------------------------------------------- a rank killed mid-run, for real


def _descendants(root: int) -> list[int]:
    """Every process under `root` now (from /proc's parent pids)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _rank_pids(train_pid: int) -> dict[int, int]:
    """The training processes under `python -m pacslab train`, by the RANK torchrun gave each."""
    ranks = {}
    for pid in _descendants(train_pid):
        env = _environ(pid)  # torchrun itself names the module too, but has no RANK
        if "RANK" in env and b"pacslab.engines.trl.run" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            ranks[int(env["RANK"])] = pid
    return ranks


def _wait_until(condition, what: str, timeout_s: float) -> float:
    """Polls `condition` until true; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"{what} within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - start


def _has_checkpoint(run_dir: Path, train: subprocess.Popen) -> bool:
    assert train.poll() is None, (run_dir / runio.TRAINER_LOG).read_text()[-3000:]
    events, _ = runio.read_jsonl(run_dir / runio.EVENTS)
    return any(e.get("type") == "checkpoint" for e in events)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
@pytest.mark.parametrize("victim", [1, 0])
def test_a_rank_killed_mid_run_ends_every_process_and_the_run_crashed_then_it_resumes(tmp_path, victim):
    """As the extension starts a run (detached, its output in trainer.log): after the first
    checkpoint SIGKILL one rank; every process of the run is gone within a minute, the run reads
    `crashed` naming the rank, its signal and trainer.log, and `--resume` finishes it from the last
    complete checkpoint."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = _trl_config(tmp_path, total_steps=8, checkpoint_every=1)
    with open(run_dir / runio.TRAINER_LOG, "ab") as log:
        train = subprocess.Popen([sys.executable, "-m", "pacslab", "train", str(config), "--run-dir", str(run_dir)],
                                 env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_until(lambda: _has_checkpoint(run_dir, train), "a checkpoint", 240)
        processes = [(pid, pid_start_time(pid)) for pid in [train.pid, *_descendants(train.pid)]]
        ranks = _rank_pids(train.pid)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[victim], signal.SIGKILL)
        _wait_until(lambda: not any(process_alive(pid, start) for pid, start in processes),
                    "every process of the run gone (the launcher, torchrun, both ranks)", 60)
        assert train.wait(timeout=5) == 1
    finally:
        if train.poll() is None:
            os.killpg(train.pid, signal.SIGKILL)
            train.wait()

    info = _run_json(run_dir)
    assert info["status"] == "crashed", info
    message = info["error"]["message"]
    assert message.startswith(f"rank {victim} (pid {ranks[victim]}) was killed by signal SIGKILL"), message
    assert f"See {run_dir / runio.TRAINER_LOG} for each process's output." in message
    assert info["pid"] == train.pid, "run.json names the launcher, which ended the run, not a rank"
    text = (run_dir / runio.EVENTS).read_text()
    assert text.endswith("\n")
    events, bad = runio.read_jsonl(run_dir / runio.EVENTS)
    assert bad == 0
    *_, error, state, finished = events  # run/lifecycle.py end_run
    assert (error["type"], error["message"]) == ("error", message)
    assert (state["status"], finished["type"], finished["status"]) == ("crashed", "run_finished", "crashed")
    assert f"error: {message}" in (run_dir / runio.TRAINER_LOG).read_text()

    listing = subprocess.run([sys.executable, "-m", "pacslab", "status", str(tmp_path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert ["run", "crashed"] == listing.stdout.splitlines()[1].split()[:2], listing.stdout

    latest = int((run_dir / "checkpoints" / "latest").read_text().strip().removeprefix("step-"))
    assert latest >= 1 and info["step"] >= latest
    resumed = _train("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    info = _run_json(run_dir)
    assert (info["status"], info["step"], info["error"]) == ("finished", 8, None)
    events = _events(run_dir)
    second = max(i for i, e in enumerate(events) if e["type"] == "run_started")
    assert [e["step"] for e in events[second:] if e["type"] == "metrics"] == list(range(latest + 1, 9))
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step-000008"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal (prctl)")
def test_a_killed_launcher_leaves_no_rank_training_and_the_run_reads_crashed(tmp_path):
    """SIGKILL to `python -m pacslab train` (the pid run.json names) mid-run: torchrun gets SIGTERM
    from the kernel (agent.py die_with_parent) and stops both ranks; nothing of the run is left
    training unseen behind a run the editor shows crashed."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = _trl_config(tmp_path, total_steps=5000, checkpoint_every=1)  # far more steps than the wait
    with open(run_dir / runio.TRAINER_LOG, "ab") as log:
        train = subprocess.Popen([sys.executable, "-m", "pacslab", "train", str(config), "--run-dir", str(run_dir)],
                                 env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
    processes = []
    try:
        _wait_until(lambda: _has_checkpoint(run_dir, train), "a checkpoint", 240)
        processes = [(pid, pid_start_time(pid)) for pid in _descendants(train.pid)]
        assert set(_rank_pids(train.pid)) == {0, 1}
        train.kill()
        train.wait()
        _wait_until(lambda: not any(process_alive(pid, start) for pid, start in processes),
                    "torchrun and both ranks gone after their launcher", 30)
    finally:  # what is left when the test failed (torch elastic starts the ranks in sessions of their own)
        for pid, start in [(train.pid, None), *processes]:
            if start is None or process_alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        train.wait()
    listing = subprocess.run([sys.executable, "-m", "pacslab", "status", str(tmp_path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)}, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert ["run", "crashed"] == listing.stdout.splitlines()[1].split()[:2], listing.stdout
