"""`python -m pacslab verify RUN`: re-verification of a synthetic run with known verdicts, and bad input."""

import json
import os

import pytest

from pacslab.run import files as runio
from pacslab.cli import main

# (prompt, response, answer, recorded label) per sample; the edited verifier accepts "12.0" for 12
# and refuses "twelve", which the old one had accepted
SAMPLES = {
    1: [("3*4=", "12", "12", 1), ("3*4=", "12.0", "12", 0), ("3*4=", "twelve", "12", 1), ("3*4=", "13", "12", 0)],
    2: [("2+3=", "5", "5", 1), ("2+3=", "5.0", "5", 0)],
    3: [("1+1=", "2", "2", 1)],
}
EDITED = '''
def check(response, answer, prompt):
    try:
        return float(response) == float(answer)
    except ValueError:
        return False
'''


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checks.py").write_text(EDITED)
    (tmp_path / "exp.pacs.yaml").write_text("task:\n  verifier: python:checks.py:check\n  verifier_timeout_s: 20\n")
    run = tmp_path / ".pacs" / "runs" / "r1"
    run.mkdir(parents=True)
    runio.write_json_atomic(run / "run.json", {"status": "finished", "config_dir": str(tmp_path), "config_path": "exp.pacs.yaml"})
    for step, samples in SAMPLES.items():
        runio.write_rollouts(run, step, [{"step": step, "group": 0, "index": i, "prompt": p, "response": r, "answer": a,
                                          "reward": float(label), "verifier": {"detail": "old", "parsed": r, "error": None}}
                                         for i, (p, r, a, label) in enumerate(samples)])
    return tmp_path, run


def result_of(run, capsys, *args):
    assert main(["verify", str(run), "--json", *args]) == 0
    summary = json.loads(capsys.readouterr().out)
    return summary, json.loads(open(summary["file"]).read())


def test_an_edited_verifier_reports_exactly_the_expected_flips(workspace, capsys):
    root, run = workspace
    before = {p.name: p.read_bytes() for p in (run / "rollouts").iterdir()}
    summary, result = result_of(run, capsys)  # the run's config as it is on disk now
    assert summary["total"] == {"samples": 7, "checked": 7, "up": 2, "down": 1}
    assert result["verifier"] == "python:checks.py:check" and result["base_dir"] == str(root)
    by_step = {s["step"]: s for s in result["steps"]}
    assert [(f["line"], f["response"]) for f in by_step[1]["up"]] == [(1, "12.0")]
    assert [(f["line"], f["response"]) for f in by_step[1]["down"]] == [(2, "twelve")]
    assert [(f["line"], f["response"]) for f in by_step[2]["up"]] == [(1, "5.0")] and not by_step[2]["down"]
    assert not by_step[3]["up"] and not by_step[3]["down"]
    flip = by_step[1]["down"][0]
    assert flip["before"] == {"label": 1, "reward": 1.0, "detail": "old", "error": None}
    assert flip["after"]["label"] == 0 and flip["answer"] == "12" and flip["prompt"] == "3*4="
    # written beside the records, never into them
    assert {p.name: p.read_bytes() for p in (run / "rollouts").iterdir()} == before
    assert summary["file"].startswith(str(run / "reverify"))


def test_steps_and_another_spec(workspace, capsys):
    _, run = workspace
    summary, result = result_of(run, capsys, "--steps", "2:3", "--verifier", "exact")
    assert [s["step"] for s in result["steps"]] == [2, 3]
    assert summary["total"]["up"] == 1 and summary["total"]["down"] == 0  # exact reads 5.0 as 5


@pytest.mark.parametrize("args,message", [
    (["--verifier", "python:missing.py:check"], "cannot import 'missing.py'"),
    (["--verifier", "nonsense"], "is not a known verifier"),
    (["--steps", "9:12"], "holds no rollout file within steps 9:12 (it has steps 1 to 3)"),
    (["--steps", "x"], "--steps 'x' is not A:B"),
    (["--eval"], "held-out results are recorded as metrics only"),
])
def test_bad_input_is_a_clear_error(workspace, capsys, args, message):
    _, run = workspace
    assert main(["verify", str(run), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (run / "reverify").exists()


def test_a_run_without_samples_or_still_written_is_refused(workspace, capsys):
    root, run = workspace
    empty = root / ".pacs" / "runs" / "r2"
    empty.mkdir()
    runio.write_json_atomic(empty / "run.json", {"status": "finished"})
    assert main(["verify", str(empty), "--verifier", "exact"]) == 2
    assert "has no recorded samples" in capsys.readouterr().err
    runio.write_json_atomic(run / "run.json", {"status": "running", "pid": os.getpid(), "host": None,
                                                "pid_start_time": runio.pid_start_time(os.getpid())})
    assert main(["verify", str(run), "--verifier", "exact"]) == 2
    assert "is still being written (status running)" in capsys.readouterr().err


def test_the_verifier_never_comes_from_outside_the_workspace(workspace, capsys, tmp_path_factory, monkeypatch):
    _, run = workspace
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert main(["verify", str(run)]) == 2
    assert "is not in this workspace" in capsys.readouterr().err
    # a config inside the run folder is refused too
    (run / "exp.pacs.yaml").write_text("task:\n  verifier: exact\n")
    runio.write_json_atomic(run / "run.json", {"status": "finished", "config_dir": str(run), "config_path": "exp.pacs.yaml"})
    monkeypatch.chdir(run.parent)
    assert main(["verify", str(run)]) == 2
    assert "from the run folder" in capsys.readouterr().err
