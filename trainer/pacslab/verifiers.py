"""Verifiers: pure functions of strings that label a response 1 (correct) or 0.

Each takes `(response, answer, prompt)` and returns a `Verdict`. The engine strips special tokens
from the response before verifying. `load_verifier` turns the config's `task.verifier` into a
callable of that signature that never raises; `VerifierRunner` runs it for the trainer, in worker
processes with a time limit per sample (`task.verifier_timeout_s`, `task.verifier_workers`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class Verdict:
    """A verifier's answer: `label` 1 or 0, the answer it read from the response (`parsed`, None if
    none), a short human-readable `detail`, and `error` ("ExcType: message") when verifying failed.

    >>> Verdict(1, "42", "numbers equal")
    Verdict(label=1, parsed='42', detail='numbers equal', error=None)
    """

    label: int
    parsed: str | None
    detail: str
    error: str | None = None


VerifierFn = Callable[[str, str, str], Verdict]

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(e([+-]?\d+))?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_MAX_NUMBER_CHARS = 400  # longer strings, and exponents beyond it, compare as text: Fraction("1e999999999") never ends
_WHITESPACE = re.compile(r"\s+")


def _short(text: object, limit: int = 80) -> str:
    """`text` cut to `limit` characters for a detail line (a response can be thousands long)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text.strip()).casefold()


def _number(text: str) -> Fraction | None:
    """The exact value of an integer, decimal, scientific or a/b fraction string, else None.
    Thousands separators count only in the strict 1,234,567 form."""
    if len(text) > _MAX_NUMBER_CHARS:
        return None
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    decimal = _DECIMAL.fullmatch(text)
    if decimal and abs(int(decimal.group(3) or 0)) <= _MAX_NUMBER_CHARS:
        return Fraction(text)
    if _RATIO.fullmatch(text) and text.rpartition("/")[2].strip("0"):
        return Fraction(text)
    return None


def _not_text(response: object, answer: object) -> Verdict | None:
    for name, value in (("response", response), ("answer", answer)):
        if not isinstance(value, str):
            return Verdict(0, None, f"{name} is not a string", f"TypeError: {name} is {type(value).__name__}")
    if not response.strip():
        return Verdict(0, None, "empty response")
    return None


def exact(response: str, answer: str, prompt: str = "") -> Verdict:
    """Exact match after stripping, case folding and collapsing whitespace; when both sides read
    as numbers (integer, decimal, a/b, 1e3, 1,234) they are compared by value.

    >>> exact(" 579 ", "579").label, exact("579.0", "579").label, exact("+579", "579").label
    (1, 1, 1)
    >>> exact("1,234", "1234").label, exact("1/2", "0.5").label, exact("5,79", "579").label
    (1, 1, 0)
    >>> exact("Paris", " paris").label, exact("580", "579")
    (1, Verdict(label=0, parsed='580', detail='580 != 579', error=None))
    """
    if (bad := _not_text(response, answer)) is not None:
        return bad
    got, want = _normalise(response), _normalise(answer)
    got_num, want_num = _number(got), _number(want)
    if got_num is not None and want_num is not None:
        return Verdict(int(got_num == want_num), got, f"{_short(got)} {'==' if got_num == want_num else '!='} {_short(want)}")
    return Verdict(int(got == want), got, "strings equal" if got == want else f"{_short(got)} != {_short(want)}")


_MATH_TIMEOUT_S = 5


def math(response: str, answer: str, prompt: str = "") -> Verdict:
    r"""Mathematical equivalence with math-verify: reads the last \boxed{} answer, or else the last
    expression of the response, and compares it with the reference answer symbolically.

    math-verify's timeouts use SIGALRM, which works only on the main thread: there they are 5 s;
    on any other thread they are off (a pathological expression can then take long).

    >>> math("so \\boxed{1/2}", "0.5").label, math("The answer is 42", "42").label
    (1, 1)
    >>> math("\\boxed{1+x^2}", "x^2+1").label, math("\\boxed{3}", "4").label, math("no idea", "4").label
    (1, 0, 0)
    """
    from math_verify import parse, verify

    if (bad := _not_text(response, answer)) is not None:
        return bad
    limit = _MATH_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    # A reference answer is a bare LaTeX snippet: boxed, "2\pi" reads as 2π, not as the number 2.
    gold = parse(f"\\boxed{{{answer.strip().strip('$')}}}", parsing_timeout=limit) or parse(answer, parsing_timeout=limit)
    if not gold:
        return Verdict(0, None, f"reference answer {_short(repr(answer))} is not parseable",
                       f"ValueError: math-verify cannot parse the answer {answer!r}")
    pred = parse(response, parsing_timeout=limit)
    if not pred:
        return Verdict(0, None, "no answer found in the response")
    parsed = str(pred[-1])
    if verify(gold, pred, timeout_seconds=limit):
        return Verdict(1, parsed, f"{_short(parsed)} is equivalent to {_short(gold[-1])}")
    return Verdict(0, parsed, f"{_short(parsed)} is not equivalent to {_short(gold[-1])}")


def takes_keyword(fn: Callable[..., object], name: str) -> bool:
    """Whether `fn` has a parameter `name` (a user verifier may take the row's extra_info)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


USER_PREFIXES = ("python:", "verl:", "trl:")
_FIX = ("set task.verifier to 'exact', 'math', 'python:MODULE:FUNCTION', 'verl:MODULE:FUNCTION' or 'trl:MODULE:FUNCTION', "
        "where MODULE is an importable module or a .py file path relative to the config file's folder")


def _import_module(target: str, base_dir: str | None):
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_absolute():
            path = Path(base_dir or ".") / path
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}")
        name = f"pacslab_user_verifier_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if base_dir is None or exc.name != target.split(".")[0] or str(Path(base_dir).resolve()) in sys.path:
            raise
    # The module sits beside the config: keep its folder importable for the verifier's own imports.
    sys.path.insert(0, str(Path(base_dir).resolve()))
    return importlib.import_module(target)


def load_verifier(spec: str, *, base_dir: str | None = None) -> VerifierFn:
    """The verifier named by the config key `task.verifier`, as
    `fn(response, answer, prompt, extra_info=None, data_source=None) -> Verdict`.

    `spec` is `exact`, `math`, or `FORM:MODULE:FUNCTION` with FORM `python`, `verl` or `trl`
    (pacslab.verifier_forms: each is called by its parameter names), where MODULE is an importable
    module (`python:my_pkg.checks:is_correct`, found on sys.path or else in `base_dir`) or a .py
    file (`python:./my_verifier.py:fn`, relative to `base_dir`, the config file's folder).
    A `python:` function has the signature

        fn(response: str, answer: str, prompt: str) -> bool | int | float | tuple[bool | int | float, str] | Verdict

    and may also take `extra_info`, `data_source` or `**kwargs`.

    A number is a reward thresholded at 0.5 (>= 0.5 is label 1); a tuple adds a detail string.
    The returned callable never raises: an exception inside the verifier gives
    `Verdict(0, None, "verifier raised", "ExcType: message")`, and an unsupported return value
    gives label 0 with a TypeError in `error`. A spec that cannot be loaded, or a function whose
    parameters fit no form, raises ValueError.

    >>> load_verifier("exact")("12", "12", "3*4=")
    Verdict(label=1, parsed='12', detail='12 == 12', error=None)
    >>> load_verifier("python:operator:truediv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: task.verifier 'python:operator:truediv': its function has no parameters that can be passed by name; the accepted forms are python:...
    """
    from pacslab.verifier_forms import as_verifier, form_of

    if spec in ("exact", "math"):
        return as_verifier(exact if spec == "exact" else math, spec)
    prefix = next((p for p in USER_PREFIXES if spec.startswith(p)), None)
    if prefix is None or ":" not in spec[len(prefix):]:
        raise ValueError(f"task.verifier {spec!r} is not a known verifier; {_FIX}")
    target, _, name = spec[len(prefix):].rpartition(":")
    if not target or not name:
        raise ValueError(f"task.verifier {spec!r} needs both a module and a function; {_FIX}")
    try:
        module = _import_module(target, base_dir)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - also a module that calls sys.exit() while it is imported
        raise ValueError(f"task.verifier {spec!r}: cannot import {target!r} ({type(exc).__name__}: {exc}); {_FIX}") from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"task.verifier {spec!r}: {target!r} has no function {name!r}; {_FIX}")
    return as_verifier(fn, spec, form_of(fn, spec, prefix[:-1]))


# ---------------------------------------------------------------- running a verifier for the trainer

IN_PROCESS = ("exact",)  # linear in the text and never blocks; everything else runs in worker processes
LOAD_TIMEOUT_S = 120.0  # importing a verifier module (with torch or sympy, say) may take this long
POLL_S = 0.2


class VerifierInterrupted(Exception):
    """Verification was abandoned because the run was asked to stop (a signal, stop or suspend)."""


class VerifierRunner:
    """The config's verifier for the trainer: `verify(items)` labels `(response, answer, prompt)`
    triples and returns their verdicts in order; calling it labels one.

    `exact` runs in this process. Any other verifier runs in `workers` processes of its own (the
    trainer never imports user code), each sample cut off after `timeout_s` seconds: the sample
    gets label 0 with error "TimeoutError: timed out after ... s" and its worker is replaced. A
    worker that dies gives label 0 with the exit code. `interrupted()` is polled while waiting:
    when it returns true the busy workers are killed and VerifierInterrupted is raised, so a stuck
    verifier never keeps a run from stopping. Loading errors (also sys.exit() in the module) raise
    ValueError naming `task.verifier`.
    """

    def __init__(self, spec: str, *, base_dir: str | None = None, timeout_s: float = 10.0, workers: int = 1,
                 interrupted: Callable[[], bool] | None = None):
        self.spec, self.base_dir, self.timeout_s = spec, base_dir, float(timeout_s)
        self.interrupted = interrupted or (lambda: False)
        self._local = load_verifier(spec, base_dir=base_dir) if spec in IN_PROCESS else None
        self._workers: list[_Worker | None] = []
        if self._local is None:
            if spec in ("math",) or spec.startswith(USER_PREFIXES):
                self._workers = [self._start_worker() for _ in range(max(1, workers))]
            else:
                load_verifier(spec, base_dir=base_dir)  # raises the ValueError naming the fix

    def __call__(self, response: str, answer: str, prompt: str = "", extra_info: object = None,
                 data_source: object = None) -> Verdict:
        return self.verify([(response, answer, prompt, extra_info, data_source)])[0]

    def verify(self, items: list[tuple]) -> list[Verdict]:
        """Verdicts of `(response, answer, prompt[, extra_info[, data_source]])` items, in order."""
        if self._local is not None:
            return [self._local(*item) for item in items]
        results: list[Verdict | None] = [None] * len(items)
        pending = list(range(len(items)))[::-1]
        busy: dict[int, tuple[int, float]] = {}  # worker slot -> (item, deadline)
        next_check = time.monotonic() + POLL_S
        while pending or busy:
            for slot in range(len(self._workers)):
                if pending and slot not in busy:
                    worker = self._workers[slot] = self._workers[slot] or self._start_worker()
                    item = pending.pop()
                    worker.send(items[item])
                    busy[slot] = (item, time.monotonic() + self.timeout_s)
            self._collect(busy, results)
            if busy and time.monotonic() >= next_check:  # a stop is looked for every POLL_S, not every sample
                next_check = time.monotonic() + POLL_S
                if self.interrupted():
                    for slot in busy:
                        self._kill(slot)
                    raise VerifierInterrupted("verification stopped: the run was asked to stop")
        return results  # type: ignore[return-value]

    def _collect(self, busy: dict, results: list) -> None:
        """Waits up to POLL_S for answers; fills the results of finished, dead and late samples."""
        now = time.monotonic()
        wait = max(0.0, min([POLL_S] + [deadline - now for _, deadline in busy.values()]))
        ready = _Worker.wait([self._workers[slot] for slot in busy], wait)
        for slot in list(busy):
            worker, (item, deadline) = self._workers[slot], busy[slot]
            if worker in ready:
                verdict = worker.receive()
                if verdict is None:
                    code = worker.exit_code()
                    verdict = Verdict(0, None, "verifier process died",
                                      f"RuntimeError: the verifier process exited with code {code}")
                    self._kill(slot)
            elif time.monotonic() >= deadline:
                verdict = Verdict(0, None, f"verifier timed out after {self.timeout_s:g} s",
                                  f"TimeoutError: timed out after {self.timeout_s:g} s")
                self._kill(slot)
            else:
                continue
            results[item] = verdict
            del busy[slot]

    def _start_worker(self) -> "_Worker":
        return _Worker(self.spec, self.base_dir, LOAD_TIMEOUT_S)

    def _kill(self, slot: int) -> None:
        worker, self._workers[slot] = self._workers[slot], None
        if worker is not None:
            worker.kill()

    def close(self) -> None:
        for slot in range(len(self._workers)):
            self._kill(slot)

    def __enter__(self) -> "VerifierRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Worker:
    """One verifier process: JSON lines in on stdin, out on a private copy of its stdout (what the
    verifier prints goes to stderr, into the run's log)."""

    def __init__(self, spec: str, base_dir: str | None, load_timeout_s: float):
        code = "from pacslab.verifiers import _worker_main; _worker_main()"
        # stdout is read with os.read only, so its buffer never holds data that select cannot see
        # PYTHONSAFEPATH: the current folder (maybe a run folder) is not put on sys.path; the worker
        # imports this very pacslab, wherever it was imported from
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONSAFEPATH": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, "-c", code, spec, base_dir or ""], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self._buffer = b""
        self._eof = False
        if not self.wait([self], load_timeout_s):
            self.kill()
            raise ValueError(f"task.verifier {spec!r}: loading it took longer than {load_timeout_s:g} s; {_FIX}")
        hello = self._line()
        if hello is None or "error" in hello:
            exit_code = self.exit_code()
            self.kill()
            reason = hello["error"] if hello else f"its process exited with code {exit_code} while loading"
            raise ValueError(reason if reason.startswith("task.verifier") else f"task.verifier {spec!r}: {reason}; {_FIX}")

    @staticmethod
    def wait(workers: list["_Worker"], timeout: float) -> list["_Worker"]:
        """The workers with a complete line (or an end of output) to read, waiting up to `timeout`."""
        ready = [w for w in workers if b"\n" in w._buffer]
        if ready:
            return ready
        with selectors.DefaultSelector() as sel:
            for w in workers:
                sel.register(w.proc.stdout, selectors.EVENT_READ, w)
            deadline = time.monotonic() + timeout
            while True:
                events = sel.select(max(0.0, deadline - time.monotonic()))
                for key, _ in events:
                    key.data._fill()
                ready = [w for w in workers if b"\n" in w._buffer or w._eof]
                if ready or time.monotonic() >= deadline:
                    return ready

    def _fill(self) -> None:
        chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
        self._buffer += chunk
        self._eof = self._eof or not chunk

    def _line(self) -> dict | None:
        if b"\n" not in self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def send(self, item: tuple) -> None:
        try:
            self.proc.stdin.write(json.dumps(list(item), default=str).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: the next wait reads its end of output

    def receive(self) -> Verdict | None:
        out = self._line()
        return None if out is None else Verdict(out["label"], out["parsed"], out["detail"], out["error"])

    def exit_code(self) -> int | None:
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except BrokenPipeError:  # unflushed input for a dead worker
                pass


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the trainer dies, even by kill -9."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main() -> None:
    """A verifier worker's loop (see `_Worker`): argv is [spec, base_dir]."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the trainer, which then stops us
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    spec, base_dir = sys.argv[1], sys.argv[2] or None

    def reply(obj: dict) -> None:
        out.write(json.dumps(obj, default=str) + "\n")
        out.flush()

    try:
        fn = load_verifier(spec, base_dir=base_dir)
    except ValueError as exc:
        reply({"error": str(exc)})
        return
    if spec == "math":
        import math_verify  # noqa: F401 - imported now, so the first sample's time limit does not pay for sympy
    reply({"ready": True})
    for line in sys.stdin:
        v = fn(*json.loads(line))  # response, answer, prompt[, extra_info[, data_source]]
        reply({"label": v.label, "parsed": v.parsed, "detail": v.detail, "error": v.error})
