"""The three forms a user's reward function may take, each called by its parameter NAMES.

- `python:` PACS Lab's own: `f(response, answer, prompt=..., extra_info=..., data_source=...)`
  returning a bool, a number, `(value, detail)` or a `Verdict`;
- `verl:` verl's `compute_score(data_source, solution_str, ground_truth, extra_info=None)`
  returning a number or a dict with `score` (its other fields go into the verdict's detail);
- `trl:` a TRL reward function `f(completions, prompts, **columns) -> list[float]`, called with one
  completion at a time; the columns are `answer` (also as `ground_truth` and `solution`),
  `extra_info` and `data_source`, each a one-element list.

A `python:` spec is told apart by signature (a verl `compute_score` or a TRL function given as
`python:` is called as what it is); `verl:` and `trl:` insist on their form. A function that takes
`**kwargs` also gets the prompt by keyword. A function whose parameters fit no form is a
ValueError that shows the three forms, raised when the verifier loads (so a launch fails at once
instead of training on a reward that is always 0).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any

from pacslab.verifiers import Verdict, VerifierFn

FORMS = ("python", "verl", "trl")
FORMS_HELP = (
    "the accepted forms are "
    "python:FILE_OR_MODULE:FUNC with def f(response, answer, prompt=None, extra_info=None) -> bool | float | (value, detail) | Verdict; "
    "verl:FILE_OR_MODULE:FUNC with def compute_score(data_source, solution_str, ground_truth, extra_info=None) -> float | {'score': float, ...}; "
    "trl:FILE_OR_MODULE:FUNC with def f(completions, prompts, **columns) -> list[float] (columns: answer, ground_truth, solution, extra_info, data_source)"
)
_MARKERS = {"python": "response", "verl": "solution_str", "trl": "completions"}


def _arguments(form: str, response: str, answer: str, prompt: str, extra_info: Any, data_source: Any) -> dict[str, Any]:
    """Every keyword argument `form` can give (a function receives those it names, or all with **kwargs)."""
    if form == "python":
        return {"response": response, "answer": answer, "prompt": prompt, "extra_info": extra_info, "data_source": data_source}
    if form == "verl":
        return {"data_source": data_source, "solution_str": response, "ground_truth": answer, "extra_info": extra_info,
                "prompt": prompt}
    return {"completions": [response], "prompts": [prompt], "answer": [answer], "ground_truth": [answer],
            "solution": [answer], "extra_info": [extra_info], "data_source": [data_source]}


def _parameters(fn: Callable) -> tuple[dict[str, inspect.Parameter], bool] | None:
    """fn's parameters that can be passed by name, and whether it takes **kwargs; None if fn has a
    positional-only parameter without a default or no readable signature."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    named: dict[str, inspect.Parameter] = {}
    var_kw = False
    for p in params.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is p.POSITIONAL_ONLY:
            if p.default is p.empty:
                return None
        elif p.kind is not p.VAR_POSITIONAL:
            named[p.name] = p
    return named, var_kw


def _fits(form: str, named: dict[str, inspect.Parameter]) -> list[str]:
    """The required parameters of `named` that `form` cannot fill (empty: it fits)."""
    given = _arguments(form, "", "", "", None, None)
    return [name for name, p in named.items() if p.default is p.empty and name not in given]


def form_of(fn: Callable, spec: str, requested: str) -> str:
    """The form `fn` is called in: `requested` (`verl`, `trl`) when it fits, or for `python` the
    form its parameter names say. Raises ValueError naming the spec, the misfit and the forms."""
    found = _parameters(fn)
    if found is None:
        raise ValueError(f"task.verifier {spec!r}: its function has no parameters that can be passed by name; {FORMS_HELP}")
    named, var_kw = found
    if requested == "python":
        candidates = [form for form in FORMS if _MARKERS[form] in named] or ["python"]
    else:
        candidates = [requested]
    for form in candidates:
        missing = _fits(form, named)
        if not missing and (_MARKERS[form] in named or var_kw):
            return form
    shown = ", ".join(named) + (", **kwargs" if var_kw else "") or "none"
    missing = _fits(candidates[0], named)
    why = f"parameters it cannot be given: {', '.join(missing)}" if missing else f"it takes no {_MARKERS[candidates[0]]!r}"
    raise ValueError(f"task.verifier {spec!r}: the function's parameters ({shown}) fit no accepted form as {candidates[0]} ({why}); {FORMS_HELP}")


def caller(fn: Callable, form: str) -> Callable[..., Any]:
    """`call(response, answer, prompt, extra_info, data_source)`: fn called by name in `form`, its
    raw result normalised to what `_to_verdict` reads."""
    named, var_kw = _parameters(fn)  # type: ignore[misc]

    def call(response: str, answer: str, prompt: str, extra_info: Any, data_source: Any) -> Any:
        given = _arguments(form, response, answer, prompt, extra_info, data_source)
        kwargs = given if var_kw else {k: v for k, v in given.items() if k in named}
        result = fn(**kwargs)
        if form == "verl":
            return _verl_result(result)
        if form == "trl":
            return _trl_result(result)
        return result

    return call


def _verl_result(result: Any) -> Any:
    """A verl score (a number, or a dict with `score` and extras) as (value, detail)."""
    if isinstance(result, dict):
        if "score" not in result:
            raise TypeError(f"compute_score returned a dict without 'score' (keys: {', '.join(map(str, result)) or 'none'})")
        extras = ", ".join(f"{k}={_brief(v)}" for k, v in result.items() if k != "score")
        return result["score"], f"score {_brief(result['score'])}" + (f"; {extras}" if extras else "")
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        return result, f"score {_brief(result)}"
    return result


def _trl_result(result: Any) -> Any:
    """A TRL reward list for one completion as (value, detail)."""
    if not isinstance(result, (list, tuple)) and not hasattr(result, "tolist"):
        raise TypeError(f"a trl: reward function returns a list of floats, one per completion; got {type(result).__name__}")
    values = list(result.tolist() if hasattr(result, "tolist") else result)
    if len(values) != 1:
        raise ValueError(f"the reward function returned {len(values)} rewards for 1 completion")
    value = values[0]
    if value is None:
        return 0, "reward None (the function does not apply to this sample)"
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"the reward function returned {value}")
    return value, f"reward {_brief(value)}"


def _brief(value: Any, limit: int = 60) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label_of(value: object) -> int | None:
    if hasattr(value, "item"):  # a numpy scalar or a one-element tensor, e.g. from np.isclose
        try:
            value = value.item()
        except (ValueError, RuntimeError, TypeError):
            return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real):
        return int(value >= 0.5)
    return None


def _to_verdict(result: object) -> Verdict:
    """Normalise a user verifier's return value (see `load_verifier`)."""
    if isinstance(result, Verdict):
        label = _label_of(result.label)
        if label is None:
            return Verdict(0, result.parsed, result.detail, f"TypeError: Verdict.label is {type(result.label).__name__}")
        return Verdict(label, result.parsed, result.detail, result.error)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        value, detail = result
    else:
        value, detail = result, f"returned {result!r}"[:200]
    label = _label_of(value)
    if label is None:
        return Verdict(0, None, "verifier returned an unsupported value",
                       f"TypeError: got {type(value).__name__}; expected bool, int, float, (value, detail) or Verdict")
    return Verdict(label, None, detail)


def as_verifier(fn: Callable[..., object], spec: str, form: str | None = None) -> VerifierFn:
    """`fn` as a verifier that never raises; a user function (`form` set) is called by its parameter
    names in that form (pacslab.verifier_forms), a built-in as `fn(response, answer, prompt)`."""
    if form is None:
        def call(response, answer, prompt, extra_info, data_source):
            return fn(response, answer, prompt)
    else:
        call = caller(fn, form)

    def verifier(response: str, answer: str, prompt: str = "", extra_info: object = None,
                 data_source: object = None) -> Verdict:
        try:
            return _to_verdict(call(response, answer, prompt, extra_info, data_source))
        except Exception as exc:  # noqa: BLE001 - a user verifier's failure becomes a label 0, not a crash
            return Verdict(0, None, "verifier raised", f"{type(exc).__name__}: {exc}")

    verifier.spec = spec  # type: ignore[attr-defined]
    verifier.form = form  # type: ignore[attr-defined]
    verifier.__name__ = verifier.__qualname__ = f"verifier[{spec}]"
    return verifier
