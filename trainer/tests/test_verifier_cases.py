"""task.verifier_cases: `verify-cases CONFIG` and the check before a launch."""

import json

import pytest

from pacslab.cli import main

CASES = [
    {"prompt": "3*4=", "response": "12", "answer": "12", "expected": 1},
    {"prompt": "3*4=", "response": "\\boxed{12}", "answer": "12", "expected": 1, "note": "boxed right answer"},
    {"prompt": "3*4=", "response": "13", "answer": "12", "expected": 0},
]


@pytest.fixture
def config(write_config, tmp_path):
    def make(cases=CASES, verifier="exact", raw: str | None = None):
        (tmp_path / "cases.jsonl").write_text(raw if raw is not None else "".join(json.dumps(c) + "\n" for c in cases))
        return write_config(**{"task.verifier": verifier, "task.verifier_cases": "cases.jsonl", "total_steps": 1})
    return make


def test_verify_cases_names_each_miss_and_exits_1(config, capsys):
    path = config()
    assert main(["verify-cases", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 2 (boxed right answer): expected 1, got 0" in err and "line 1" not in err and "line 3" not in err
    assert main(["verify-cases", str(path), "--verifier", "math"]) == 0
    assert "all 3 verifier cases pass (math)" in capsys.readouterr().out


def test_a_launch_is_refused_by_a_failing_case_unless_skipped(config, tmp_path, capsys):
    path = config()
    assert main(["train", str(path), "--run-dir", str(tmp_path / "runs" / "a")]) == 2
    err = capsys.readouterr().err
    assert "task.verifier_cases" in err and "the verifier misses case line 2 (boxed right answer)" in err
    assert "--skip-verifier-cases" in err
    assert not (tmp_path / "runs" / "a" / "events.jsonl").exists()
    assert main(["train", str(path), "--run-dir", str(tmp_path / "runs" / "b"), "--skip-verifier-cases"]) == 0


def test_a_passing_set_launches(config, tmp_path):
    path = config(verifier="math")
    assert main(["train", str(path), "--run-dir", str(tmp_path / "runs" / "c")]) == 0


@pytest.mark.parametrize("raw,message", [
    ('{"prompt": "a", "response": "b", "answer": "c", "expected": 1}\n{"prompt": "a"\n', "line 2 is not valid JSON"),
    ('\n{"prompt": "a", "response": "b", "answer": "c", "expected": 2}\n', "line 2: 'expected' is 2; it must be 1 or 0"),
    ('{"prompt": "a", "answer": "c", "expected": 1}\n', "line 1: 'response' is missing"),
    ('[1]\n', "line 1: a list, not a JSON object"),
])
def test_a_malformed_line_is_named(config, capsys, raw, message):
    path = config(raw=raw)
    assert main(["verify-cases", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "cases.jsonl" in err


def test_a_missing_cases_file_says_how_to_make_one(config, tmp_path, capsys):
    path = config()
    (tmp_path / "cases.jsonl").unlink()
    assert main(["verify-cases", str(path)]) == 2
    assert "does not exist" in capsys.readouterr().err
