"""VerifierRunner: user verifiers in worker processes, cut off when they hang, interruptible, in order."""

from __future__ import annotations

import threading

import pytest

from pacslab.verifiers import Verdict, VerifierInterrupted, VerifierRunner, load_verifier

CHECKS = '''
import os, sys, time
print("verifier module loaded")  # a verifier that prints must not disturb the trainer
def check(response, answer, prompt):
    if response == "hang":
        time.sleep(3600)
    if response == "die":
        os._exit(7)
    if response.startswith("slow"):
        time.sleep(float(response[4:]))
    print("checked", response)
    return response.strip() == answer
'''


@pytest.fixture
def checks(tmp_path):
    (tmp_path / "my_verifier.py").write_text(CHECKS)
    return tmp_path


def runner(folder, **kwargs) -> VerifierRunner:
    return VerifierRunner("python:./my_verifier.py:check", base_dir=str(folder), **kwargs)


def test_a_hanging_sample_times_out_and_the_next_ones_still_run(checks):
    with runner(checks, timeout_s=0.5) as verify:
        got = verify.verify([("1", "1", ""), ("hang", "1", ""), ("2", "1", ""), ("3", "3", "")])
    assert [v.label for v in got] == [1, 0, 0, 1]
    assert got[1] == Verdict(0, None, "verifier timed out after 0.5 s", "TimeoutError: timed out after 0.5 s")
    assert got[0].error is None and got[2].error is None


def test_a_pool_gives_the_results_of_one_worker_in_the_same_order(checks):
    items = [(f"slow0.{(7 * i) % 5}" if i % 3 else str(i % 4), str(i % 4), "") for i in range(15)]
    fn = load_verifier("python:./my_verifier.py:check", base_dir=str(checks))
    expected = [fn(*item) for item in items]
    assert [v.label for v in expected].count(1) >= 3  # the items mix right and wrong answers
    with runner(checks, workers=1) as one, runner(checks, workers=4) as four:
        assert one.verify(items) == expected
        assert four.verify(items) == expected


def test_a_worker_that_dies_gives_label_0_and_is_replaced(checks):
    with runner(checks) as verify:
        died, after = verify.verify([("die", "1", ""), ("4", "4", "")])
    assert died.label == 0 and died.error == "RuntimeError: the verifier process exited with code 7"
    assert after == Verdict(1, None, "returned True")


def test_a_stop_request_interrupts_a_busy_verifier(checks):
    asked = threading.Event()
    threading.Timer(0.5, asked.set).start()
    with runner(checks, timeout_s=3600, interrupted=asked.is_set) as verify:
        with pytest.raises(VerifierInterrupted):
            verify.verify([("hang", "1", "")])
        assert verify("5", "5", "").label == 1  # a new worker takes over


def test_a_module_that_exits_on_import_is_reported(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(ValueError, match=r"task.verifier 'python:./quits.py:f': cannot import './quits.py' \(SystemExit: 3\)"):
        VerifierRunner("python:./quits.py:f", base_dir=str(tmp_path))
    with pytest.raises(ValueError, match="SystemExit"):
        load_verifier("python:./quits.py:f", base_dir=str(tmp_path))


def test_unloadable_specs_are_refused_by_the_runner_too(tmp_path):
    with pytest.raises(ValueError, match="has no function 'nope'"):
        VerifierRunner("python:json:nope")
    with pytest.raises(ValueError, match="is not a known verifier"):
        VerifierRunner("regex")


def test_exact_runs_in_the_trainer(checks):
    with VerifierRunner("exact") as verify:
        assert verify._workers == [] and verify("12", "12.0", "").label == 1
