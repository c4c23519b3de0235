"""`python -m pacslab verify RUN`: re-verification of a synthetic run with known verdicts, and bad input."""

import json
import os
import shutil

import pytest
import yaml

from conftest import events_of
from pacslab.cli import main
from pacslab.run import files as runio

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


# held-out rows: (set, id, prompt, answer, greedy, greedy label, responses, labels), under the edited verifier
HELDOUT = {
    0: [(None, "a", "3*4=", "12", "12.0", 0, ["12", "twelve", "12.0", "13"], [1, 1, 0, 0]),  # greedy 0→1, one up, one down
        (None, "b", "2+3=", "5", "5", 1, ["5", "6"], [1, 0]),  # unchanged; only 2 samples, so pass@4 is not computable
        ("hard", "c", "7+8=", "15", "fifteen", 1, ["15", "15.0"], [0, 0])],  # greedy 1→0, both samples 0→1
    2: [(None, "a", "3*4=", "12", "12", 1, ["12", "12"], [1, 1])],
}


def heldout_row(name, id_, prompt, answer, greedy, label, responses, labels, source=None):
    return {"set": name, "id": id_, "data_source": source, "greedy_correct": bool(label), "correct": sum(labels),
            "samples": len(responses), "greedy": greedy, "responses": responses, "labels": labels, "k": [1, 2, 4],
            "prompt": prompt, "answer": answer}


def write_heldout(run, rows_by_step, extra_lines=""):
    (run / "heldout").mkdir(exist_ok=True)
    for step, rows in rows_by_step.items():
        body = "".join(json.dumps(heldout_row(*row)) + "\n" for row in rows)
        (run / "heldout" / f"step-{step:06d}.jsonl").write_text(body + extra_lines)


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
    # an example written before rows carried their prompt, answer and labels, and a line cut short
    write_heldout(run, HELDOUT, extra_lines=json.dumps({"set": None, "id": "old", "greedy_correct": True, "correct": 1,
                                                        "samples": 1, "greedy": "1", "responses": ["1"]}) + "\nnot json\n")
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
    (["--eval", "--steps", "5:9"], "holds no held-out file within steps 5:9 (it has evaluations at steps 0 to 2)"),
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


def test_eval_reports_exactly_the_expected_held_out_flips_and_accuracy_change(workspace, capsys):
    _, run = workspace
    before = {p.name: p.read_bytes() for p in (run / "heldout").iterdir()}
    summary, result = result_of(run, capsys, "--eval")
    assert summary["total"] == {"samples": 7, "checked": 7, "up": 2, "down": 1}  # the training rollouts too
    held = result["eval"]
    # the old row is in both files
    assert held["total"] == {"examples": 6, "checked": 4, "greedy": {"up": 1, "down": 1},
                             "sampled": {"checked": 10, "up": 3, "down": 1}}
    assert summary["eval"]["total"] == held["total"] and "flips" not in summary["eval"]["steps"][0]["sets"][0]
    step0, step2 = held["steps"]
    assert (step0["step"], step0["file"], step0["examples"], step0["unreadable_lines"]) == (0, "heldout/step-000000.jsonl", 4, 1)
    main_set, hard = step0["sets"]
    assert (main_set["set"], main_set["examples"], main_set["checked"]) == (None, 3, 2)
    assert main_set["greedy"] == {"up": 1, "down": 0} and main_set["sampled"] == {"checked": 6, "up": 1, "down": 1}
    assert main_set["accuracy"] == {"before": 0.5, "after": 1.0}
    assert list(main_set["pass_at_k"]) == ["1", "2"]  # pass@4 needs 4 samples of every example
    assert main_set["pass_at_k"]["1"] == {"before": 0.5, "after": 0.5}
    assert main_set["pass_at_k"]["2"] == pytest.approx({"before": (5 / 6 + 1) / 2, "after": (5 / 6 + 1) / 2})
    [flip] = main_set["flips"]
    assert (flip["line"], flip["id"], flip["prompt"], flip["answer"]) == (0, "a", "3*4=", "12")
    assert flip["greedy"]["response"] == "12.0" and flip["greedy"]["before"] == {"label": 0} and flip["greedy"]["after"]["label"] == 1
    assert [(f["index"], f["response"], f["before"]["label"], f["after"]["label"]) for f in flip["samples"]] == [
        (1, "twelve", 1, 0), (2, "12.0", 0, 1)]
    assert flip["correct"] == {"before": 2, "after": 2}
    assert (hard["set"], hard["checked"], hard["greedy"], hard["sampled"]) == (
        "hard", 1, {"up": 0, "down": 1}, {"checked": 2, "up": 2, "down": 0})
    assert hard["accuracy"] == {"before": 1.0, "after": 0.0}
    assert hard["pass_at_k"] == {"1": {"before": 0.0, "after": 1.0}, "2": {"before": 0.0, "after": 1.0}}
    assert [f["greedy"]["response"] for f in hard["flips"]] == ["fifteen"]
    assert step2["sets"][0]["flips"] == [] and step2["sets"][0]["accuracy"] == {"before": 1.0, "after": 1.0}
    assert {p.name: p.read_bytes() for p in (run / "heldout").iterdir()} == before


# held-out rows of two data sources (and one without), under the edited verifier: MATH-500's greedy
# accuracy goes 0.5 → 1.0, AIME's stays 1.0 while its pass@1 falls 1.0 → 0.5
BY_SOURCE = [(None, "a", "3*4=", "12", "12.0", 0, ["12", "13"], [1, 0], "MATH-500"),  # greedy 0→1
             (None, "b", "2+3=", "5", "5", 1, ["5", "6"], [1, 0], "MATH-500"),  # unchanged
             (None, "c", "7+8=", "15", "15", 1, ["fifteen", "15"], [1, 1], "AIME"),  # a sample 1→0
             (None, "d", "1+1=", "2", "2", 1, ["2", "2"], [1, 1], None)]  # no data source: in no source's values


def test_eval_reports_the_accuracy_change_of_each_data_source(workspace, capsys):
    _, run = workspace
    shutil.rmtree(run / "heldout")
    write_heldout(run, {4: BY_SOURCE})
    summary, result = result_of(run, capsys, "--eval")
    [r] = result["eval"]["steps"][0]["sets"]
    assert r["accuracy"] == {"before": 0.75, "after": 1.0}
    assert r["sources"] == [
        {"data_source": "AIME", "checked": 1, "accuracy": {"before": 1.0, "after": 1.0},
         "pass_at_k": {"1": {"before": 1.0, "after": 0.5}, "2": {"before": 1.0, "after": 1.0}}},
        {"data_source": "MATH-500", "checked": 2, "accuracy": {"before": 0.5, "after": 1.0},
         "pass_at_k": {"1": {"before": 0.5, "after": 0.5}, "2": {"before": 1.0, "after": 1.0}}}]
    assert summary["eval"]["steps"][0]["sets"][0]["sources"] == r["sources"]  # --json keeps them
    assert main(["verify", str(run), "--eval"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(out) if line.startswith("eval step 4 held-out split:"))
    assert out[at + 1] == "  data source MATH-500: accuracy 50.0% → 100.0% of 2"  # AIME's accuracy did not change
    assert out[at + 2].startswith("held-out: ")


def test_set_and_source_names_from_the_run_folder_print_as_visible_escapes(workspace, capsys):
    _, run = workspace
    shutil.rmtree(run / "heldout")
    write_heldout(run, {4: [("\x1b]0;set\x07",) + row[1:-1] + (("\x1b[2J" if row[-1] == "MATH-500" else row[-1]),) for row in BY_SOURCE]})
    assert main(["verify", str(run), "--eval"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "eval step 4 set \\u001b]0;set\\u0007: " in out and "  data source \\u001b[2J: accuracy 50.0% → 100.0% of 2" in out


def test_one_data_source_gives_no_breakdown(workspace, capsys):
    _, run = workspace
    shutil.rmtree(run / "heldout")
    write_heldout(run, {4: [row[:-1] + ("MATH-500",) for row in BY_SOURCE]})
    _, result = result_of(run, capsys, "--eval")
    [r] = result["eval"]["steps"][0]["sets"]
    assert "sources" not in r and r["accuracy"] == {"before": 0.75, "after": 1.0}


def test_eval_steps_and_a_run_without_rollouts(workspace, capsys):
    root, run = workspace
    _, result = result_of(run, capsys, "--eval", "--steps", "1:3")
    assert [s["step"] for s in result["steps"]] == [1, 2, 3] and [s["step"] for s in result["eval"]["steps"]] == [2]
    for path in (run / "rollouts").iterdir():
        path.unlink()
    summary, result = result_of(run, capsys, "--eval")
    assert result["steps"] == [] and summary["total"] == {"samples": 0, "checked": 0, "up": 0, "down": 0}
    assert result["eval"]["total"]["checked"] == 4
    assert main(["verify", str(run), "--json"]) == 2  # without --eval the rollouts are what it re-verifies
    assert "holds no rollout file" in capsys.readouterr().err


def test_eval_without_held_out_results_names_what_is_missing(workspace, capsys):
    _, run = workspace
    shutil.rmtree(run / "heldout")
    assert main(["verify", str(run), "--eval"]) == 2
    err = capsys.readouterr().err
    assert "has no held-out results (no heldout/ folder)" in err and "leave out --eval" in err
    write_heldout(run, {0: []}, extra_lines=json.dumps({"set": None, "id": "old", "greedy_correct": True, "correct": 1,
                                                         "samples": 1, "greedy": "1", "responses": ["1"]}) + "\n")
    assert main(["verify", str(run), "--eval"]) == 2
    assert "carries its prompt, answer, responses and labels" in capsys.readouterr().err
    assert not (run / "reverify").exists()


LENIENT = '''
def check(response, answer, prompt):
    return response.strip()[:2] == answer[:2]
'''


def test_eval_on_a_real_run_of_the_embedded_default(tmp_path, monkeypatch, capsys):
    """The demo model's evaluations re-verified: with the run's own verifier nothing flips and the
    accuracy and pass@k are those the run logged; with a lenient one (the hundreds and tens digits
    right suffice) exactly the responses it judges otherwise flip."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lenient.py").write_text(LENIENT)
    cfg = {"name": "arith", "device": "cpu", "seed": 0, "total_steps": 1, "eval_every": 1, "checkpoint_every": 0,
           "model": {"path": "builtin:arith-tiny"},
           "task": {"type": "arith", "arith": {"digits": 2, "ops": ["+"], "train_size": 200, "eval_size": 24, "seed": 1234},
                    "verifier": "exact"},
           "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
           "optim": {"mini_batch_prompts": 4, "micro_batch_prompts": 4},
           "eval": {"size": 24, "samples": 4, "k": [1, 4], "batch_prompts": 24}, "logging": {"rollouts_every": 1}}
    (tmp_path / "arith.pacs.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "runs" / "r"
    assert main(["train", "arith.pacs.yaml", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    logged = {e["step"]: e["values"] for e in events_of(run) if e["type"] == "eval"}
    assert sorted(logged) == [0, 1]

    _, same = result_of(run, capsys, "--eval")
    assert same["verifier"] == "exact" and same["eval"]["total"]["checked"] == 48
    for s in same["eval"]["steps"]:
        [r] = s["sets"]
        assert r["greedy"] == {"up": 0, "down": 0} and r["sampled"] == {"checked": 96, "up": 0, "down": 0}
        assert r["accuracy"]["before"] == r["accuracy"]["after"] == pytest.approx(logged[s["step"]]["eval/accuracy"])
        for k in ("1", "4"):
            assert r["pass_at_k"][k]["after"] == pytest.approx(logged[s["step"]][f"eval/pass@{k}"])

    _, lenient = result_of(run, capsys, "--eval", "--verifier", "python:lenient.py:check")
    ok = lambda response, answer: int(response.strip()[:2] == answer[:2])  # noqa: E731
    flips = 0
    for s in lenient["eval"]["steps"]:
        rows = [json.loads(line) for line in (run / s["file"]).read_text().splitlines()]
        expected = {(i, j) for i, row in enumerate(rows) for j, (text, old) in enumerate(zip(row["responses"], row["labels"]))
                    if ok(text, row["answer"]) != old}
        [r] = s["sets"]
        assert {(f["line"], x["index"]) for f in r["flips"] for x in f["samples"]} == expected
        greedy = {i for i, row in enumerate(rows) if ok(row["greedy"], row["answer"]) != row["greedy_correct"]}
        assert {f["line"] for f in r["flips"] if f["greedy"]} == greedy
        assert r["accuracy"]["after"] == pytest.approx(sum(ok(row["greedy"], row["answer"]) for row in rows) / len(rows))
        flips += len(expected) + len(greedy)
    assert flips > 0, "the lenient verifier changed no label: the test checks nothing"
