"""`ledger.jsonl`: every prompt of every training step with its correct count, whatever
logging.rollouts_every and log_token_details say (docs/run-format.md).

One line per step; a prompt's id and data source are written once, on the first step that
samples it, and later steps name it by its index (its order of first appearance):

    {"step": 3, "new": [["train-0042", "gsm8k"]], "p": [0, 5, 7], "c": [3, 0, 8], "n": 8}

`n` is the group size, or a list (one per prompt) when the groups differ. `dropped`, when present,
says that the last `dropped` prompts of `p` were sampled and left out of the batch by
rollout.dynamic_sampling. A resumed run
truncates the lines past its checkpoint's step, so a reader never sees a step twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pacslab.run import files as runio

LEDGER = "ledger.jsonl"


class Ledger:
    """The run's ledger, appended one step at a time (rank 0)."""

    def __init__(self, run_dir: Path, *, after_step: int = 0):
        """Keeps the lines of steps ≤ `after_step` (a resumed run's checkpoint) and appends after them."""
        self.path = Path(run_dir) / LEDGER
        self.index: dict[str, int] = {}
        lines = read_ledger_lines(self.path)
        kept = [line for line in lines if line["step"] <= after_step]
        for line in kept:
            for prompt_id, _source in line.get("new", []):
                self.index[prompt_id] = len(self.index)
        if runio.is_regular_file(self.path):  # without the steps past the checkpoint (they run again) or a torn last line
            runio.write_atomic(self.path, "".join(_dump(line) for line in kept))
        self._f = runio.append_run_file(self.path)

    def write(self, step: int, prompts: list[tuple[str, str | None, int, int]],
              dropped: list[tuple[str, str | None, int, int]] = ()) -> None:
        """Records `step`'s prompts, (id, data source, correct samples, samples) each: its batch's,
        then those dynamic sampling `dropped`."""
        prompts = [*prompts, *dropped]
        new, p = [], []
        for prompt_id, source, _c, _n in prompts:
            if prompt_id not in self.index:
                self.index[prompt_id] = len(self.index)
                new.append([prompt_id, source])
            p.append(self.index[prompt_id])
        ns = [n for *_, n in prompts]
        line = {"step": step, **({"new": new} if new else {}), "p": p, "c": [c for _, _, c, _ in prompts],
                "n": ns[0] if ns and all(n == ns[0] for n in ns) else ns, **({"dropped": len(dropped)} if dropped else {})}
        self._f.write(_dump(line))
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            os.fsync(self._f.fileno())
            self._f.close()


def _dump(line: dict) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_ledger_lines(path: Path) -> list[dict]:
    """The ledger's complete lines with a whole `step`, in file order."""
    lines, _bad = runio.read_jsonl(path)
    return [line for line in lines if isinstance(line.get("step"), int)]


def read_ledger(path: Path) -> list[tuple[int, str, str | None, int, int]]:
    """(step, prompt id, data source, correct, n) of every prompt of every step."""
    names: list[tuple[str, str | None]] = []
    rows = []
    for line in read_ledger_lines(path):
        names.extend((str(i), s) for i, s in line.get("new", []))
        n = line["n"]
        for k, (p, c) in enumerate(zip(line["p"], line["c"])):
            rows.append((line["step"], *names[p], c, n[k] if isinstance(n, list) else n))
    return rows
