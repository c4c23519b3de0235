"""Bad data and bad verifiers: found before the model loads, counted, cut off, never a hang or a traceback."""

from __future__ import annotations

import signal

import pytest

from conftest import events_of, run_json, spawn_trainer, wait_for
from pacslab.run import files as runio
from pacslab.cli import main
from pacslab.run.control import append_command

FAST = ["--set", "eval.size=2", "--set", "eval.samples=1", "--set", "eval.k=[1]"]


@pytest.fixture
def launched(tmp_path):
    """A run folder as the extension's launcher leaves it before the trainer starts."""
    run_dir = tmp_path / "runs" / "launched"
    run_dir.mkdir(parents=True)
    runio.write_json_atomic(run_dir / "run.json", {"id": "launched", "status": "starting"})
    return run_dir


@pytest.fixture
def broken_model(tmp_path, tiny_model_dir):
    """A model folder whose weights cannot load: any failure after loading would be exit 1 instead."""
    import shutil

    folder = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    return "broken-model"


@pytest.mark.parametrize("rows, fragment", [
    ("", "holds no examples"),
    ('{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer": \n', "train.jsonl:2: task.train_file: not valid JSON"),
    ('{"prompt": "1+1=", "answer": "2"}\n{"question": "2+2=", "answer": "4"}\n', "train.jsonl:2: task.prompt_field:"),
])
def test_data_errors_are_found_before_the_model_loads(write_config, tmp_path, launched, broken_model, capsys,
                                                      rows, fragment):
    (tmp_path / "train.jsonl").write_text(rows)
    (tmp_path / "eval.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    config = write_config(**{"model.path": broken_model, "task": {"type": "jsonl", "train_file": "train.jsonl",
                                                                   "eval_file": "eval.jsonl"}})
    assert main(["train", str(config), "--run-dir", str(launched)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and "config error" in err
    info = run_json(launched)
    assert info["status"] == "failed" and fragment in info["error"]["message"] and info["error"]["traceback"] is None


def test_a_verifier_that_exits_on_import_is_reported_and_the_run_does_not_stay_starting(write_config, tmp_path,
                                                                                         launched, capsys):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    config = write_config(**{"task.verifier": "python:./quits.py:check"})
    assert main(["train", str(config), "--run-dir", str(launched)]) == 2
    err = capsys.readouterr().err
    assert "task.verifier 'python:./quits.py:check'" in err and "SystemExit: 0" in err
    assert run_json(launched)["status"] == "failed"


def test_a_verifier_file_path_is_accepted_and_a_missing_one_refused(write_config, tmp_path, capsys):
    from pacslab.config import ConfigError, load_config

    (tmp_path / "my_verifier.py").write_text("def check(response, answer, prompt):\n    return True\n")
    assert load_config(write_config(**{"task.verifier": "python:./my_verifier.py:check"})).task.verifier.endswith("check")
    with pytest.raises(ConfigError, match=r"task.verifier: the file .*nope.py does not exist"):
        load_config(write_config(**{"task.verifier": "python:./nope.py:check"}))


def write_verifier(folder, body: str) -> str:
    (folder / "my_verifier.py").write_text(body)
    return "python:./my_verifier.py:check"


def test_a_verifier_that_fails_on_every_sample_of_the_first_step_ends_the_run(write_config, tmp_path, capsys):
    spec = write_verifier(tmp_path, "def check(response, answer, prompt):\n    raise RuntimeError('broken verifier')\n")
    run_dir = tmp_path / "runs" / "all-fail"
    assert main(["train", str(write_config(**{"task.verifier": spec})), "--run-dir", str(run_dir), *FAST]) == 1
    info = run_json(run_dir)
    assert info["status"] == "failed" and info["error"]["traceback"] is None
    assert "failed on all 16 samples of the first step" in info["error"]["message"]
    assert "RuntimeError: broken verifier" in info["error"]["message"]
    assert "Traceback" not in capsys.readouterr().err
    assert not any(e["type"] == "metrics" and "reward/mean" in e["values"] for e in events_of(run_dir))


def test_verifier_errors_are_counted_per_step_and_warned_about(write_config, tmp_path):
    spec = write_verifier(tmp_path, (
        "calls = 0\n"
        "def check(response, answer, prompt):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    if calls % 4:\n"
        "        raise ValueError('three in four fail')\n"
        "    return True\n"))
    run_dir = tmp_path / "runs" / "most-fail"
    config = write_config(total_steps=2, eval_every=0, **{"task.verifier": spec, "eval.size": 1, "eval.samples": 3,
                                                           "eval.k": [1]})
    assert main(["train", str(config), "--run-dir", str(run_dir)]) == 0
    events = events_of(run_dir)
    fracs = [e["values"]["verifier/error_frac"] for e in events if e["type"] == "metrics" and "reward/mean" in e["values"]]
    assert fracs == [0.75, 0.75]
    warnings = [e for e in events if e["type"] == "log" and e["level"] == "warning"]
    assert [w["step"] for w in warnings] == [1, 2]
    assert "failed on 12 of 16 samples of step 1" in warnings[0]["message"] and "three in four fail" in warnings[0]["message"]
    assert run_json(run_dir)["status"] == "finished"


@pytest.mark.parametrize("how", ["sigterm", "stop"])
def test_stop_interrupts_a_verifier_that_never_returns(write_config, tmp_path, how):
    spec = write_verifier(tmp_path, "import time\ndef check(response, answer, prompt):\n    time.sleep(100000)\n")
    run_dir = tmp_path / "runs" / "stuck"
    config = write_config(**{"task.verifier": spec, "task.verifier_timeout_s": 3600})
    proc = spawn_trainer("train", str(config), "--run-dir", str(run_dir), cwd=tmp_path)
    try:
        wait_for(lambda: (run_dir / "run.json").exists() and run_json(run_dir).get("status") == "running",
                 what="the run to start its first evaluation", proc=proc)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            append_command(run_dir, "stop")
        assert proc.wait(timeout=120) == 0, proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    info = run_json(run_dir)
    assert info["status"] == "stopped" and info["step"] == 0
    assert runio.latest_checkpoint(run_dir).name == "step-000000"
    assert "Traceback" not in proc.stdout.read() and info["error"] is None
