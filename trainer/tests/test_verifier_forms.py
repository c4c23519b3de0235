"""The three reward-function forms (pacslab.verifier_forms): each called by its parameter names."""

import pytest

from pacslab.tasks import Example, verify
from pacslab.verifiers import VerifierRunner, load_verifier

MODULE = '''
def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    return 1.0 if solution_str.strip() == ground_truth and data_source == "gsm8k" else 0.0

def compute_score_dict(data_source, solution_str, ground_truth, extra_info=None):
    return {"score": float(solution_str == ground_truth), "acc": solution_str == ground_truth, "pred": solution_str}

def compute_score_no_score(data_source, solution_str, ground_truth):
    return {"acc": 1}

def accuracy(completions, prompts, answer, **kwargs):
    return [float(c == a) for c, a in zip(completions, answer)]

def solution_reward(completions, solution, **kwargs):
    return [1.0 if c == s else 0.0 for c, s in zip(completions, solution)]

def two_rewards(completions, **kwargs):
    return [1.0, 1.0]

def check_kw(response, answer, **kw):
    return response == answer and kw["prompt"] == "2+2="

def check_extra(response, answer, prompt, extra_info):
    return response == extra_info["alt"]

def misfit(text, target):
    return text == target

def verl_needs_more(data_source, solution_str, ground_truth, tokenizer):
    return 1.0
'''


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "rewards.py").write_text(MODULE)
    return lambda form, name: (f"{form}:rewards.py:{name}", str(tmp_path))


def load(spec_and_dir):
    s, base = spec_and_dir
    return load_verifier(s, base_dir=base)


@pytest.mark.parametrize("form", ["verl", "python"])
def test_verl_compute_score_is_called_by_name(spec, form):
    fn = load(spec(form, "compute_score"))
    assert fn.form == "verl"
    assert fn("12", "12", "3*4=", data_source="gsm8k").label == 1
    # before: called positionally as (response, answer, prompt), it compared the answer with the prompt
    assert fn("12", "12", "3*4=", data_source="other").label == 0
    assert fn("13", "12", "3*4=", data_source="gsm8k").label == 0


def test_verl_dict_extras_land_in_the_detail(spec):
    v = load(spec("verl", "compute_score_dict"))("7", "7", "")
    assert (v.label, v.detail) == (1, "score 1; acc=True, pred='7'")
    bad = load(spec("verl", "compute_score_no_score"))("7", "7", "")
    assert bad.label == 0 and "without 'score'" in bad.error


def test_trl_reward_functions(spec):
    acc = load(spec("trl", "accuracy"))
    assert acc.form == "trl"
    assert [acc("4", "4", "2+2=").label, acc("5", "4", "2+2=").label] == [1, 0]
    assert load(spec("python", "accuracy")).form == "trl"  # told apart by signature
    assert load(spec("trl", "solution_reward"))("4", "4", "").label == 1
    wrong = load(spec("trl", "two_rewards"))("4", "4", "")
    assert wrong.label == 0 and "returned 2 rewards for 1 completion" in wrong.error


def test_kwargs_get_the_prompt_by_keyword(spec):
    fn = load(spec("python", "check_kw"))
    assert fn("4", "4", "2+2=").label == 1 and fn("4", "4", "other").label == 0


def test_extra_info_and_data_source_reach_the_function_from_an_example(spec):
    example = Example("e", "p", "4", extra_info={"alt": "four"}, data_source="gsm8k")
    assert verify(load(spec("python", "check_extra")), "four", example).label == 1
    assert verify(load(spec("python", "compute_score")), "4", example).label == 1


@pytest.mark.parametrize("form,name,why", [
    ("python", "misfit", "parameters it cannot be given: text, target"),
    ("verl", "check_kw", "parameters it cannot be given: response, answer"),
    ("trl", "compute_score", "parameters it cannot be given: solution_str"),
    ("verl", "verl_needs_more", "parameters it cannot be given: tokenizer"),
])
def test_a_signature_that_fits_no_form_is_a_load_error_showing_the_forms(spec, form, name, why):
    with pytest.raises(ValueError) as err:
        load(spec(form, name))
    message = str(err.value)
    assert why in message and f"{form}:rewards.py:{name}" in message
    for shown in ("python:FILE_OR_MODULE:FUNC", "verl:FILE_OR_MODULE:FUNC", "trl:FILE_OR_MODULE:FUNC",
                  "compute_score(data_source, solution_str, ground_truth, extra_info=None)"):
        assert shown in message


def test_the_worker_pool_runs_each_form_and_refuses_a_misfit_at_start(spec):
    s, base = spec("verl", "compute_score")
    with VerifierRunner(s, base_dir=base, timeout_s=30) as runner:
        verdicts = runner.verify([("12", "12", "q", None, "gsm8k"), ("12", "12", "q", None, "x"), ("12", "12", "q")])
    assert [v.label for v in verdicts] == [1, 0, 0]
    s, base = spec("trl", "accuracy")
    with VerifierRunner(s, base_dir=base, timeout_s=30) as runner:
        assert [v.label for v in runner.verify([("4", "4", "q"), ("5", "4", "q")])] == [1, 0]
    s, base = spec("python", "misfit")
    with pytest.raises(ValueError, match="fit no accepted form"):
        VerifierRunner(s, base_dir=base, timeout_s=30)


@pytest.mark.parametrize("engine", ["native", "trl"])
def test_a_launch_with_a_misfit_function_is_refused_before_training(write_config, tmp_path, capsys, engine):
    (tmp_path / "rewards.py").write_text(MODULE)
    path = write_config(**{"task.verifier": "python:rewards.py:misfit", "engine": engine, "optim.mini_batch_prompts": 4})
    from pacslab.cli import main

    assert main(["train", str(path), "--run-dir", str(tmp_path / "runs" / engine)]) == 2
    err = capsys.readouterr().err
    assert "fit no accepted form" in err and "verl:FILE_OR_MODULE:FUNC" in err
