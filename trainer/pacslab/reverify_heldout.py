"""`python -m pacslab verify RUN --eval`: re-verify the held-out results of every evaluation.

Each evaluation records its examples in `heldout/step-N.jsonl` (evaluate.example_rows): the greedy
response and the sampled responses, with their labels, the prompt, the answer and the set's k. Every
response is verified again; per evaluation step and eval set the result counts the greedy and
sampled labels that flipped and gives the accuracy (greedy) and pass@k the evaluation would have
logged under the new verifier, beside the recorded ones. The held-out files are only read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from pacslab.metrics import pass_at_k
from pacslab.health.run import HELDOUT_DIR
from pacslab.reverify import ReverifyError, within_steps
from pacslab.run import files as runio
from pacslab.run.safe_json import terminal_text

_HELDOUT = re.compile(r"step-(\d{6,})\.jsonl")


def heldout_files(run_dir: Path, steps: tuple[int, int] | None) -> list[tuple[int, Path]]:
    """(step, file) of the run's held-out files within `steps` (inclusive), in step order."""
    folder = Path(run_dir) / HELDOUT_DIR
    if not runio.is_real_dir(folder):
        raise ReverifyError(f"{run_dir} has no held-out results (no {HELDOUT_DIR}/ folder): --eval re-verifies the examples "
                    "each evaluation records there, which runs trained before pacslab wrote them lack; "
                    "leave out --eval to re-verify the training rollouts, or train the run again")
    found = sorted((int(m.group(1)), folder / m.group(0)) for m in map(_HELDOUT.fullmatch, (p.name for p in folder.iterdir()))
                   if m and runio.is_regular_file(folder / m.group(0)))
    return within_steps(found, steps, folder, kind="held-out file", has="evaluations at steps", fix="pick steps the run evaluated")


def example_of(row: dict) -> dict | None:
    """A held-out row's fields to re-verify it, checked; None when it lacks one (rows written before
    the prompt, answer and labels were recorded) or one has the wrong type."""
    text = (row.get("prompt"), row.get("answer"), row.get("greedy"))
    responses, labels, ks = row.get("responses"), row.get("labels"), row.get("k")
    source, name = row.get("data_source"), row.get("set")
    if not all(isinstance(v, str) for v in text) or not isinstance(row.get("greedy_correct"), bool):
        return None
    if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
        return None
    if not isinstance(labels, list) or len(labels) != len(responses) or not all(type(v) in (int, bool) and v in (0, 1) for v in labels):
        return None
    ks = ks if isinstance(ks, list) and all(type(k) is int for k in ks) else []
    if not isinstance(source, (str, type(None))) or not isinstance(name, (str, type(None))):
        return None
    return {"set": name, "id": row.get("id"), "data_source": source, "prompt": text[0], "answer": text[1],
            "greedy": text[2], "greedy_label": int(row["greedy_correct"]), "responses": responses,
            "labels": [int(v) for v in labels], "k": [k for k in ks if 1 <= k <= len(responses)],
            "extra_info": row.get("extra_info")}


def items_of(example: dict) -> list[tuple]:
    """The VerifierRunner items of an example: its greedy response, then its sampled ones."""
    tail = (example["answer"], example["prompt"], example["extra_info"], example["data_source"])
    return [(text, *tail) for text in (example["greedy"], *example["responses"])]


def reverify_heldout(run_dir: Path, runner, *, steps: tuple[int, int] | None = None) -> dict:
    """The re-verification of every evaluation of `run_dir` by `runner` (a VerifierRunner): its
    `steps`, each with its `sets`, and the `total` over them."""
    out_steps = []
    for step, path in heldout_files(run_dir, steps):
        rows, bad = runio.read_jsonl(path)
        examples = [(line, row, example_of(row)) for line, row in enumerate(rows)]
        usable = [(line, e) for line, _, e in examples if e is not None]
        verdicts = iter(runner.verify([item for _, e in usable for item in items_of(e)]))
        after = [(line, e, [next(verdicts) for _ in range(1 + len(e["responses"]))]) for line, e in usable]
        names = list(dict.fromkeys(_set_of(row) for _, row, _ in examples))
        sets = [_set_result(name, sum(1 for _, row, _ in examples if _set_of(row) == name),
                            [(line, e, v) for line, e, v in after if e["set"] == name]) for name in names]
        out_steps.append({"step": step, "file": f"{HELDOUT_DIR}/{path.name}", "examples": len(rows),
                          "unreadable_lines": bad, "sets": sets})
    total = _zero()
    for s in out_steps:
        for r in s["sets"]:
            _add(total, r)
    if not total["checked"]:
        raise ReverifyError(f"no held-out example of {run_dir} carries its prompt, answer, responses and labels (runs "
                            "trained before pacslab recorded them have only the responses); train the run again to "
                            "re-verify its held-out results, or leave out --eval")
    return {"steps": out_steps, "total": total}


def without_flips(part: dict) -> dict:
    """The held-out part of a result without its flipped examples (what `verify --json` prints)."""
    return {"steps": [{**s, "sets": [{k: v for k, v in r.items() if k != "flips"} for r in s["sets"]]} for s in part["steps"]],
            "total": part["total"]}


def heldout_lines(part: dict) -> list[str]:
    """One line per evaluation step and set whose labels changed, then the total."""
    lines = []
    for s in part["steps"]:
        for r in s["sets"]:
            g, m = r["greedy"], r["sampled"]
            if not (g["up"] or g["down"] or m["up"] or m["down"]):
                continue
            measures = [("accuracy", r["accuracy"])] + [(f"pass@{k}", v) for k, v in r["pass_at_k"].items()]
            change = ", ".join(f"{name} {v['before']:.1%} → {v['after']:.1%}" for name, v in measures)
            where = f"set {terminal_text(r['set'])}" if r['set'] is not None else "held-out split"
            lines.append(f"eval step {s['step']} {where}: greedy {g['up']} 0→1, {g['down']} 1→0 "
                         f"of {r['checked']}; samples {m['up']} 0→1, {m['down']} 1→0 of {m['checked']}; {change}")
            lines.extend(f"  data source {terminal_text(x['data_source'])}: accuracy {x['accuracy']['before']:.1%} → "
                         f"{x['accuracy']['after']:.1%} of {x['checked']}" for x in changed_sources(r))
    t = part["total"]
    lines.append(f"held-out: {t['greedy']['up'] + t['greedy']['down']} of {t['checked']} greedy labels and "
                 f"{t['sampled']['up'] + t['sampled']['down']} of {t['sampled']['checked']} sampled labels changed")
    return lines


def changed_sources(result: dict) -> list[dict]:
    """The data sources of a set's result whose greedy accuracy changed."""
    return [x for x in result.get("sources", []) if x["accuracy"]["before"] != x["accuracy"]["after"]]


def _set_result(name: str | None, count: int, verified: list[tuple[int, dict, list]]) -> dict:
    result = {"set": name, **_zero(), "examples": count, "checked": len(verified), "flips": []}
    measured: list[_Measured] = []
    for line, e, (greedy, *sampled) in verified:
        new_labels = [v.label for v in sampled]
        flips = [{"index": j, "response": e["responses"][j], "before": {"label": old}, "after": _verdict(v)}
                 for j, (old, v) in enumerate(zip(e["labels"], sampled)) if v.label != old]
        for f in flips:
            result["sampled"]["up" if f["after"]["label"] else "down"] += 1
        result["sampled"]["checked"] += len(sampled)
        greedy_flip = greedy.label != e["greedy_label"]
        if greedy_flip:
            result["greedy"]["up" if greedy.label else "down"] += 1
        if greedy_flip or flips:
            result["flips"].append({
                "line": line, "id": e["id"], "data_source": e["data_source"], "prompt": e["prompt"], "answer": e["answer"],
                "greedy": {"response": e["greedy"], "before": {"label": e["greedy_label"]}, "after": _verdict(greedy)}
                if greedy_flip else None,
                "samples": flips, "correct": {"before": sum(e["labels"]), "after": sum(new_labels)}})
        measured.append(_Measured(e, e["greedy_label"], greedy.label, len(sampled), sum(e["labels"]), sum(new_labels)))
    if measured:
        result.update(_measures(measured))
    if len({m.example["data_source"] for m in measured}) > 1:
        result["sources"] = _by_source(measured)
    return result


class _Measured(NamedTuple):
    """A re-verified example's greedy label and count of accepted samples, before and after."""

    example: dict
    greedy_before: int
    greedy_after: int
    samples: int
    correct_before: int
    correct_after: int


def _measures(measured: list[_Measured]) -> dict:
    """The accuracy (greedy) and pass@k, before and after, of some re-verified examples; k those every
    one of them can give."""
    ks = sorted(set.intersection(*(set(m.example["k"]) for m in measured)))
    return {"accuracy": {"before": _mean([m.greedy_before for m in measured]), "after": _mean([m.greedy_after for m in measured])},
            "pass_at_k": {str(k): {"before": _mean([pass_at_k(m.samples, m.correct_before, k) for m in measured]),
                                   "after": _mean([pass_at_k(m.samples, m.correct_after, k) for m in measured])} for k in ks}}


def _by_source(measured: list[_Measured]) -> list[dict]:
    """Each data source's measures (sorted by source; examples without one are in none), as the
    trainer's eval/.../source=<name>/ values."""
    groups: dict[str, list[_Measured]] = {}
    for m in measured:
        if m.example["data_source"] is not None:
            groups.setdefault(m.example["data_source"], []).append(m)
    return [{"data_source": source, "checked": len(mine), **_measures(mine)} for source, mine in sorted(groups.items())]


def _set_of(row: dict) -> str | None:
    return row.get("set") if isinstance(row.get("set"), str) else None


def _zero() -> dict:
    return {"examples": 0, "checked": 0, "greedy": {"up": 0, "down": 0}, "sampled": {"checked": 0, "up": 0, "down": 0}}


def _add(total: dict, part: dict) -> None:
    for key in ("examples", "checked"):
        total[key] += part[key]
    for group in ("greedy", "sampled"):
        for key, value in part[group].items():
            total[group][key] += value


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _verdict(v) -> dict:
    return {"label": v.label, "parsed": v.parsed, "detail": v.detail, "error": v.error}
