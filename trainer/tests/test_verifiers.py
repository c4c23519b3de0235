"""Tests of pacslab.verifiers: built-in verifiers on good, wrong and malformed outputs, and the loader."""

import doctest
import sys
import threading
import uuid

import pytest

import pacslab.verifiers
from pacslab.verifiers import Verdict, exact, load_verifier, math


def test_doctests():
    result = doctest.testmod(pacslab.verifiers)
    assert result.attempted >= 8 and result.failed == 0


def test_verdict_is_frozen():
    v = Verdict(1, "1", "ok")
    with pytest.raises(AttributeError):
        v.label = 0  # type: ignore[misc]


# ---------- exact ----------

@pytest.mark.parametrize("response,answer", [
    ("579", "579"), (" 579 ", "579"), ("579\n", " 579"), ("579.0", "579"), ("+579", "579"), ("0579", "579"),
    ("1,234", "1234"), ("1234", "1,234.00"), ("-12", "-12.0"), ("1/2", "0.5"), ("2/4", "1/2"), ("1e3", "1000"),
    ("5.", "5"), (".5", "0.5"), ("Paris", "paris"), ("New   York", "new york"), ("STRASSE", "straße"),
    ("日本", "日本"), ("9" * 1000, "9" * 1000),
])
def test_exact_accepts(response, answer):
    v = exact(response, answer)
    assert v.label == 1, v
    assert v.error is None


@pytest.mark.parametrize("response,answer", [
    ("580", "579"), ("5,79", "579"), ("57 9", "579"), ("579 apples", "579"), ("1,23,4", "1234"),
    ("0.3333", "1/3"), ("-579", "579"), ("", "579"), ("   ", "579"), ("garbage", "579"), ("None", "579"),
    ("1/0", "579"), ("nan", "nan1"), ("inf", "579"), ("1e999999999", "1"), ("9" * 5000, "9" * 4999),
    ("١٢", "13"), ("paris", "london"), ("\x00", "0"),
])
def test_exact_rejects(response, answer):
    v = exact(response, answer)
    assert v.label == 0, v


def test_exact_details():
    assert exact("580", "579") == Verdict(0, "580", "580 != 579")
    assert exact("1,234", "1234") == Verdict(1, "1,234", "1,234 == 1234")
    assert exact("", "579") == Verdict(0, None, "empty response")
    assert exact(" Paris ", "paris") == Verdict(1, "paris", "strings equal")
    v = exact(None, "579")  # type: ignore[arg-type]
    assert v.label == 0 and v.error == "TypeError: response is NoneType"
    assert exact("1", 1).error == "TypeError: answer is int"  # type: ignore[arg-type]


def test_details_of_long_responses_are_short():
    v = exact("x" * 5000, "y")
    assert v.label == 0 and len(v.detail) < 200 and v.parsed == "x" * 5000
    v = math(r"\boxed{" + "1+" * 300 + "1}", "2")
    assert v.label == 0 and len(v.parsed) == 601 and len(v.detail) < 200


def test_exact_huge_exponent_returns_quickly_as_text():
    # Fraction("1e999999999") would build a billion-digit integer; the verifier must not try.
    assert exact("1e999999999", "1e999999999").label == 1
    assert exact("1e400", "1e+400").label == 1
    assert exact("1e401", "1e+401").label == 0  # beyond the numeric range: compared as text


# ---------- math ----------

@pytest.mark.parametrize("response,answer", [
    (r"so the result is \boxed{1/2}", "0.5"),
    (r"\boxed{0.5}", r"\frac12"),
    (r"$\frac{1}{2}$", "1/2"),
    ("The answer is 42", "42"),
    ("I think 41, no wait, 42.", "42"),
    (r"\boxed{1+x^2}", "x^2+1"),
    (r"Hence $x = \boxed{\sqrt{2}}$.", r"\sqrt{2}"),
    (r"\boxed{2\pi}", r"2\pi"),
    (r"\boxed{12}", "12"),
    (r"\boxed{\dfrac{3}{4}}", "$0.75$"),
    (r"The set is $\{2, 1\}$", r"\{1,2\}"),
    (r"\boxed{1,234}", "1234"),
])
def test_math_accepts(response, answer):
    v = math(response, answer)
    assert v.label == 1, v
    assert v.parsed is not None and v.error is None


@pytest.mark.parametrize("response,answer", [
    (r"\boxed{3}", "4"), ("The answer is 41", "42"), (r"\boxed{1/3}", "0.33"), ("no idea", "4"), ("", "4"),
    ("   ", "4"), ("None", "4"), ("🙂🙂🙂", "4"), ("9" * 3000, "3"), (r"\boxed{", "4"), ("}}}{{{", "1"),
])
def test_math_rejects(response, answer):
    v = math(response, answer)
    assert v.label == 0, v


def test_math_details():
    assert math("no idea", "4") == Verdict(0, None, "no answer found in the response")
    assert math(None, "4").error == "TypeError: response is NoneType"  # type: ignore[arg-type]
    v = math("4", "")
    assert v.label == 0 and v.error.startswith("ValueError: math-verify cannot parse the answer")
    v = math(r"\boxed{3}", "4")
    assert v.parsed == "3" and "not equivalent" in v.detail


def test_math_works_off_the_main_thread():
    # math-verify's default timeouts use SIGALRM and raise ValueError off the main thread.
    results = []
    thread = threading.Thread(target=lambda: results.append((math("The answer is 42", "42"), math("41", "42"))))
    thread.start()
    thread.join()
    assert [v.label for v in results[0]] == [1, 0]
    assert all(v.error is None for v in results[0])


# ---------- load_verifier ----------

@pytest.fixture
def user_module(tmp_path):
    """A verifier module in a temporary folder, importable by name once the folder is a base_dir."""
    name = f"user_checks_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from pacslab.verifiers import Verdict\n"
        "def as_bool(response, answer, prompt):\n"
        "    return response.strip() == answer\n"
        "def as_reward(response, answer, prompt):\n"
        "    return float(response) / 10\n"
        "def with_detail(response, answer, prompt):\n"
        "    return (response == answer, f'prompt was {prompt}')\n"
        "def as_verdict(response, answer, prompt):\n"
        "    return Verdict(1, response[::-1], 'reversed')\n"
        "def bad_type(response, answer, prompt):\n"
        "    return 'yes'\n"
        "def bad_label(response, answer, prompt):\n"
        "    return Verdict('1', None, 'label is a string')\n"
        "def as_numpy(response, answer, prompt):\n"
        "    import numpy\n"
        "    return numpy.isclose(float(response), float(answer))\n"
        "def as_tensor(response, answer, prompt):\n"
        "    import torch\n"
        "    return torch.tensor([float(response)])\n"
        "def raises(response, answer, prompt):\n"
        "    raise RuntimeError('boom')\n"
        "NOT_CALLABLE = 3\n"
    )
    yield tmp_path, name
    sys.modules.pop(name, None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_builtin_specs():
    assert load_verifier("exact")("7", "7.0", "").label == 1
    assert load_verifier("math")(r"\boxed{1/2}", "0.5", "").label == 1
    assert load_verifier("exact").spec == "exact"


def test_python_file_relative_to_base_dir(user_module):
    folder, name = user_module
    fn = load_verifier(f"python:./{name}.py:as_bool", base_dir=str(folder))
    assert fn(" 5", "5", "") == Verdict(1, None, "returned True")
    assert fn("6", "5", "").label == 0
    fn = load_verifier(f"python:{folder}/{name}.py:as_reward")  # absolute path, no base_dir
    assert [fn(x, "", "").label for x in ("4.9", "5", "10", "-3", "nan")] == [0, 1, 1, 0, 0]
    assert fn("5", "", "").detail == "returned 0.5"


def test_numpy_and_tensor_scalars_count_as_numbers(user_module):
    folder, name = user_module
    as_numpy = load_verifier(f"python:./{name}.py:as_numpy", base_dir=str(folder))
    assert (as_numpy("0.1", "0.1000000001", "").label, as_numpy("0.1", "0.2", "").label) == (1, 0)
    as_tensor = load_verifier(f"python:./{name}.py:as_tensor", base_dir=str(folder))
    assert (as_tensor("0.7", "", "").label, as_tensor("0.2", "", "").label) == (1, 0)


def test_python_module_found_through_base_dir(user_module):
    folder, name = user_module
    fn = load_verifier(f"python:{name}:with_detail", base_dir=str(folder))
    assert fn("a", "a", "q?") == Verdict(1, None, "prompt was q?")
    assert load_verifier(f"python:{name}:as_verdict", base_dir=str(folder))("abc", "", "") == Verdict(1, "cba", "reversed")


def test_user_verifier_errors_become_label_zero(user_module):
    folder, name = user_module
    load = lambda fn: load_verifier(f"python:./{name}.py:{fn}", base_dir=str(folder))
    assert load("raises")("1", "1", "") == Verdict(0, None, "verifier raised", "RuntimeError: boom")
    v = load("as_reward")("not a number", "", "")
    assert v.label == 0 and v.detail == "verifier raised" and v.error.startswith("ValueError: could not convert")
    v = load("as_bool")(None, "5", "")  # None has no .strip()
    assert v.label == 0 and v.error.startswith("AttributeError")
    v = load("bad_type")("1", "1", "")
    assert v.label == 0 and v.error.startswith("TypeError: got str")
    v = load("bad_label")("1", "1", "")
    assert v.label == 0 and v.error == "TypeError: Verdict.label is str"


@pytest.mark.parametrize("spec,fragment", [
    ("regex", "is not a known verifier"),
    ("python:", "is not a known verifier"),
    ("python:nomodule", "is not a known verifier"),
    ("python::fn", "needs both a module and a function"),
    ("python:json:", "needs both a module and a function"),
    ("python:no_such_module_xyz:fn", "cannot import 'no_such_module_xyz' (ModuleNotFoundError"),
    ("python:./missing.py:fn", "cannot import './missing.py' (FileNotFoundError"),
    ("python:json:no_such_function", "'json' has no function 'no_such_function'"),
])
def test_unloadable_specs_raise_with_the_fix(spec, fragment):
    with pytest.raises(ValueError) as info:
        load_verifier(spec)
    message = str(info.value)
    assert fragment in message
    assert repr(spec) in message and "task.verifier" in message and "python:MODULE:FUNCTION" in message


def test_not_callable_and_broken_module(user_module, tmp_path):
    folder, name = user_module
    with pytest.raises(ValueError, match="has no function 'NOT_CALLABLE'"):
        load_verifier(f"python:./{name}.py:NOT_CALLABLE", base_dir=str(folder))
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(ValueError, match=r"cannot import './broken.py' \(SyntaxError"):
        load_verifier("python:./broken.py:f", base_dir=str(tmp_path))
