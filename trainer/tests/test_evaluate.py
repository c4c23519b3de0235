"""Held-out values per data source: the names, the split into sources, and a real run whose eval split has two."""

import doctest
import json

import pytest
import yaml

import pacslab.evaluate
from conftest import events_of
from pacslab.cli import main
from pacslab.data_files import DataError
from pacslab.evaluate import EvalSet, source_names, summarize
from pacslab.tasks import Example, arith_examples


def test_doctests():
    result = doctest.testmod(pacslab.evaluate)
    assert result.attempted and not result.failed


def scored(source, greedy, correct, samples=4):
    """A score_chunk row: the example, its greedy label, pass@1 and pass@4 of `correct` of 4 samples."""
    from pacslab.metrics import pass_at_k
    example = Example(f"e{len(source or '')}{greedy}{correct}", "p", "1", data_source=source)
    return (example, greedy, [pass_at_k(samples, correct, 1), pass_at_k(samples, correct, 4)], {})


def eval_set(name=None):
    return EvalSet(name, [], size=None, samples=4, k=[1, 4], temperature=1.0, top_p=1.0, max_new_tokens=4, batch_prompts=4)


def test_each_source_of_a_mixed_set_gets_its_values_under_a_safe_name():
    scores = [scored("lighteval/MATH-500", 1, 4), scored("lighteval/MATH-500", 0, 0), scored("AIME 2024", 0, 2),
              scored(None, 1, 1)]
    values = summarize(eval_set("mix"), scores)
    assert values == {"eval/mix/accuracy": 0.5, "eval/mix/pass@1": (1 + 0 + 0.5 + 0.25) / 4, "eval/mix/pass@4": 0.75,
                      "eval/mix/source=AIME_2024/accuracy": 0.0, "eval/mix/source=AIME_2024/pass@1": 0.5,
                      "eval/mix/source=AIME_2024/pass@4": 1.0,
                      "eval/mix/source=lighteval_MATH-500/accuracy": 0.5, "eval/mix/source=lighteval_MATH-500/pass@1": 0.5,
                      "eval/mix/source=lighteval_MATH-500/pass@4": 0.5}


def test_a_set_of_one_source_has_no_breakdown():
    values = summarize(eval_set(), [scored("gsm8k", 1, 4), scored("gsm8k", 0, 1)])
    assert values == {"eval/accuracy": 0.5, "eval/pass@1": 0.625, "eval/pass@4": 1.0}
    # one source and rows without one: that source's values stand apart from the set's
    values = summarize(eval_set(), [scored("gsm8k", 1, 4), scored(None, 0, 0)])
    assert values["eval/source=gsm8k/accuracy"] == 1.0 and values["eval/accuracy"] == 0.5 and len(values) == 6


def test_two_sources_of_one_metric_name_are_refused_with_both_rows():
    examples = [Example("a", "p", "1", data_source="math/500", where="eval.jsonl line 1"),
                Example("b", "p", "1", data_source="math 500", where="eval.jsonl line 7")]
    with pytest.raises(DataError) as err:
        source_names(examples, key="task.data_source_field")
    text = str(err.value)
    assert "'math/500' (eval.jsonl line 1) and 'math 500' (eval.jsonl line 7) both become 'math_500'" in text
    assert "task.data_source_field" in text and "rename one of them" in text


def test_train_refuses_colliding_sources_before_the_model_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = [{"prompt": "1+1=", "answer": "2", "data_source": s} for s in ("math/500", "math/500", "math 500")]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "train.jsonl").write_text(json.dumps({"prompt": "1+1=", "answer": "2"}) + "\n")
    cfg = {"model": {"path": "builtin:arith-tiny"}, "device": "cpu",
           "task": {"type": "jsonl", "train_file": "train.jsonl", "eval_file": "eval.jsonl", "verifier": "exact"}}
    (tmp_path / "c.pacs.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "c.pacs.yaml", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "task.data_source_field" in err
    assert f"'math/500' ({tmp_path / 'eval.jsonl'} line 1) and 'math 500' ({tmp_path / 'eval.jsonl'} line 3)" in err


def test_a_real_run_logs_and_reverifies_each_source_of_its_eval_split(tmp_path, monkeypatch, capsys):
    """The embedded default on an eval split of two sources (sums and differences): each source's
    logged values are those of its own rows in heldout/, and `verify --eval` gives them back."""
    monkeypatch.chdir(tmp_path)
    plus = arith_examples(digits=2, ops=["+"], n=6, seed=1234, split="eval")
    minus = arith_examples(digits=2, ops=["-"], n=4, seed=99, split="eval")
    rows = [{"prompt": e.prompt, "answer": e.answer, "data_source": source}
            for source, examples in (("sums", plus), ("diff/2digit", minus)) for e in examples]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = arith_examples(digits=2, ops=["+"], n=32, seed=1234, split="train")
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"prompt": e.prompt, "answer": e.answer}) + "\n" for e in train))
    cfg = {"name": "sources", "device": "cpu", "seed": 0, "total_steps": 1, "eval_every": 1, "checkpoint_every": 0,
           "model": {"path": "builtin:arith-tiny"},
           "task": {"type": "jsonl", "train_file": "train.jsonl", "eval_file": "eval.jsonl", "verifier": "exact"},
           "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
           "optim": {"mini_batch_prompts": 4, "micro_batch_prompts": 4},
           "eval": {"samples": 4, "k": [1, 4], "batch_prompts": 10}, "logging": {"rollouts_every": 0}}
    (tmp_path / "s.pacs.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "runs" / "r"
    assert main(["train", "s.pacs.yaml", "--run-dir", str(run)]) == 0
    logged = {e["step"]: e["values"] for e in events_of(run) if e["type"] == "eval"}
    assert sorted(logged) == [0, 1]
    for step, values in logged.items():
        held = [json.loads(line) for line in (run / "heldout" / f"step-{step:06d}.jsonl").read_text().splitlines()]
        assert [r["data_source"] for r in held] == ["sums"] * 6 + ["diff/2digit"] * 4
        for source, name in (("sums", "sums"), ("diff/2digit", "diff_2digit")):
            mine = [r for r in held if r["data_source"] == source]
            assert values[f"eval/source={name}/accuracy"] == pytest.approx(sum(r["greedy_correct"] for r in mine) / len(mine))
            assert values[f"eval/source={name}/pass@4"] == pytest.approx(sum(r["correct"] > 0 for r in mine) / len(mine))
        assert values["eval/accuracy"] == pytest.approx((6 * values["eval/source=sums/accuracy"]
                                                         + 4 * values["eval/source=diff_2digit/accuracy"]) / 10)
    assert 0 < logged[0]["eval/source=sums/accuracy"]  # the demo model adds; the labels are not all 0
    capsys.readouterr()
    assert main(["verify", str(run), "--eval", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for s in result["eval"]["steps"]:
        [r] = s["sets"]
        assert [x["data_source"] for x in r["sources"]] == ["diff/2digit", "sums"]
        for x in r["sources"]:
            name = x["data_source"].replace("/", "_")
            assert x["accuracy"]["before"] == x["accuracy"]["after"] == pytest.approx(logged[s["step"]][f"eval/source={name}/accuracy"])
            assert x["pass_at_k"]["4"]["after"] == pytest.approx(logged[s["step"]][f"eval/source={name}/pass@4"])
