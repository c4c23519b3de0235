"""task.audit_verifier on the embedded default policy, both engines, and `verify` on a real short run.

The answers of the training rows are written in several equivalent forms (37, $37$, \\frac{74}{2},
\\boxed{37}); `exact` reads only the plain one, `math` all of them, so the two checkers disagree
exactly where the policy answered right and the answer is not written plainly.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TRAINER_DIR, events_of
from pacslab import cli
from pacslab.run import files as runio
from pacslab.audit import agreement
from pacslab.tasks import arith_examples
from pacslab.verifiers import Verdict, exact
from pacslab.run.records import read_file, read_step

FORMS = (lambda v: str(v), lambda v: f"${v}$", lambda v: f"\\frac{{{2 * v}}}{{2}}", lambda v: f"\\boxed{{{v}}}")
PLAIN = 0


def write_workspace(root: Path, **task) -> Path:
    problems = arith_examples(digits=2, ops=["+"], n=32, seed=1234, split="train")  # the demo model's own split
    with open(root / "train.jsonl", "w") as f:
        for i, e in enumerate(problems):
            f.write(json.dumps({"prompt": e.prompt, "answer": FORMS[i % len(FORMS)](int(e.answer)), "form": i % len(FORMS)}) + "\n")
    cfg = {"name": "audit", "device": "cpu", "seed": 0, "total_steps": 3, "eval_every": 0, "checkpoint_every": 0,
           "model": {"path": "builtin:arith-tiny"},
           "task": {"type": "jsonl", "train_file": "train.jsonl", "eval_file": "train.jsonl", "verifier": "exact", "audit_verifier": "math",
                    "verifier_timeout_s": 60, **task},
           "eval": {"size": 4, "samples": 1, "k": [1], "batch_prompts": 4},
           "rollout": {"prompts_per_step": 8, "n": 4, "max_new_tokens": 4},
           "optim": {"mini_batch_prompts": 8, "micro_batch_prompts": 8}, "logging": {"rollouts_every": 1}}
    (root / "audit.pacs.yaml").write_text(yaml.safe_dump(cfg))
    return root / "audit.pacs.yaml"


def value(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def form_of(answer: str) -> int:
    return next(i for i, f in enumerate(FORMS) if any(f(v) == answer for v in range(0, 200)))


def check_disagreements(run_dir: Path) -> list[dict]:
    """Asserts the disagreeing samples are right answers in non-plain forms; returns the records."""
    records = [r for p in sorted((run_dir / "rollouts").iterdir()) for r in read_file(p)[0]]
    assert records and all("audit" in r for r in records)
    disagree = [r for r in records if r["audit"]["label"] != int(r["reward"] >= 0.5)]
    assert disagree, "no disagreement"
    for r in disagree:
        assert form_of(r["answer"]) != PLAIN and r["audit"]["label"] == 1 and r["reward"] == 0
    # and every right answer in another form is one of them
    right = [r for r in records if form_of(r["answer"]) != PLAIN and r["audit"]["label"] == 1]
    assert len(right) == len(disagree)
    metrics = [e["values"] for e in events_of(run_dir) if e["type"] == "metrics" and e["step"] >= 1]
    assert len(metrics) == 3 and sum(m["verifier/disagree_frac"] for m in metrics) > 0
    assert all(m["verifier/primary_only_frac"] == 0 and m["verifier/audit_error_frac"] == 0 for m in metrics)
    assert sum(m["verifier/audit_only_frac"] for m in metrics) == pytest.approx(sum(m["verifier/disagree_frac"] for m in metrics))
    return records


@pytest.fixture(scope="module")
def native_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit-native")
    config = write_workspace(root)
    assert cli.main(["train", str(config), "--run-dir", str(root / "runs" / "r")]) == 0
    return root, root / "runs" / "r"


def test_native_engine_audit_disagrees_on_the_equivalent_forms(native_run):
    _, run_dir = native_run
    records = check_disagreements(run_dir)
    # the reward is the primary verifier's alone
    assert all(r["reward"] == exact(r["response"], r["answer"]).label for r in records)


def test_reverify_a_real_run_with_the_fixed_verifier_flips_exactly_the_disagreements(native_run, monkeypatch, capsys):
    root, run_dir = native_run
    monkeypatch.chdir(root)
    assert cli.main(["verify", str(run_dir), "--verifier", "math", "--config", str(root / "audit.pacs.yaml"), "--json"]) == 0
    result = json.loads(Path(json.loads(capsys.readouterr().out)["file"]).read_text())
    records = {(s["step"], i): r for s in result["steps"] for i, r in enumerate(read_file(run_dir / s["file"])[0])}
    expected = {key for key, r in records.items() if r["audit"]["label"] != int(r["reward"] >= 0.5)}
    flipped = {(s["step"], f["line"]) for s in result["steps"] for f in s["up"] + s["down"]}
    assert flipped == expected and result["total"]["down"] == 0


def test_an_audit_checker_that_raises_or_hangs_is_counted_and_never_stops_the_run(tmp_path):
    (tmp_path / "bad.py").write_text("import time\n"
                                     "def check(response, answer, prompt):\n"
                                     "    if response.endswith('7'):\n        time.sleep(60)\n"
                                     "    raise RuntimeError('broken audit')\n")
    config = write_workspace(tmp_path, audit_verifier="python:bad.py:check", verifier_timeout_s=1)
    assert cli.main(["train", str(config), "--run-dir", str(tmp_path / "runs" / "r"), "--set", "total_steps=1"]) == 0
    values = [e["values"] for e in events_of(tmp_path / "runs" / "r") if e["type"] == "metrics" and e["step"] == 1][0]
    assert values["verifier/audit_error_frac"] == 1 and values["verifier/disagree_frac"] is None
    record = read_step(tmp_path / "runs" / "r", 1)[0][0]
    assert record["audit"]["error"].startswith(("RuntimeError: broken audit", "TimeoutError"))


def test_an_audit_spec_that_does_not_load_is_a_launch_error_naming_the_key(tmp_path, capsys):
    config = write_workspace(tmp_path, audit_verifier="python:nowhere.py:check")
    assert cli.main(["train", str(config), "--run-dir", str(tmp_path / "runs" / "r")]) == 2
    assert "task.audit_verifier" in capsys.readouterr().err


def test_agreement_counts():
    v = [Verdict(1, None, ""), Verdict(0, None, ""), Verdict(0, None, "", "TimeoutError: x")]
    assert agreement([0, 0, 1], v) == {"verifier/disagree_frac": 0.5, "verifier/primary_only_frac": 0.0,
                                       "verifier/audit_only_frac": 0.5, "verifier/audit_error_frac": 1 / 3}


def test_engine_trl_audits_through_the_shared_callback(tmp_path):
    config = write_workspace(tmp_path, audit_verifier="math")
    cfg = yaml.safe_load(config.read_text())
    cfg.update(engine="trl", launch={"num_processes": 1})
    config.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "runs" / "r"
    done = subprocess.run([sys.executable, "-m", "pacslab", "train", str(config), "--run-dir", str(run_dir)],
                          env={**__import__("os").environ, "PYTHONPATH": str(TRAINER_DIR)}, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_disagreements(run_dir)


def test_a_plain_trl_script_audits_through_pacslab_callback(tmp_path):
    """PacsLabCallback(audit_verifier=...) on a TRL trainer's completion log: the records whose
    columns carry the answer get the audit verdict, the step's metrics the rates."""
    from types import SimpleNamespace

    from pacslab.integrations.trl import PacsLabCallback

    logs = {"prompt": ["1/2=", "1/2=", "2*3=", "2*3="], "completion": ["0.5", "\\frac{1}{2}", "6", "7"],
            "rewards": {"exact": [1.0, 0.0, 1.0, 0.0]}, "advantages": [0.5, -0.5, 0.5, -0.5],
            "extra": {"answer": ["0.5", "0.5", "6", "6"]}}
    trainer = SimpleNamespace(accelerator=SimpleNamespace(is_main_process=True, device="cpu", num_processes=1),
                              num_generations=2, _logs=logs)
    callback = PacsLabCallback(trainer, tmp_path / "run", audit_verifier="math")
    state = SimpleNamespace(global_step=1, max_steps=1)
    callback.on_train_begin(SimpleNamespace(seed=0), state, None)
    callback.on_log(SimpleNamespace(), state, None, logs={"reward": 0.5, "loss": 0.1})
    callback.on_train_end(SimpleNamespace(), state, None)
    values = [e["values"] for e in events_of(tmp_path / "run") if e["type"] == "metrics"][0]
    assert values["verifier/disagree_frac"] == 0.25 and values["verifier/audit_only_frac"] == 0.25
    records = read_step(tmp_path / "run", 1)[0]
    assert [r["audit"]["label"] for r in records] == [1, 1, 1, 0]
