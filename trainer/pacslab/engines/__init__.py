"""Training engines, each in a folder of its own: `native` (PACS Lab's loop, engines/native/) and
`trl` (TRL's GRPOTrainer, engines/trl/). `ENGINES` is the registry the CLI and the config checks
dispatch through; which algorithms an engine runs is a field of each algorithm (algorithms.py).

Parts are named "module:function" and imported when used: the native engine imports torch, the
TRL engine trl, and neither is needed to check a config of the other."""

from __future__ import annotations

import importlib
from contextlib import nullcontext
from dataclasses import dataclass


@dataclass(frozen=True)
class Engine:
    name: str
    check: str  # (cfg, base_dir, add): its config rules, after engines/checks.py's rules of every engine
    inputs: str  # (cfg, base_dir) -> a context: what is read (and may be refused) before the run folder is made
    launch: str  # (cfg, run_dir, *, base_dir, resume, log, on_step, inputs) -> exit code of `pacslab train`
    run: str  # the module that trains in this engine's process(es)

    def call(self, part: str, *args, **kwargs):
        module, _, name = getattr(self, part).partition(":")
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


class InputError(ValueError):
    """The verifier cannot be used; found before any model loads (here, not in an engine's module,
    so that the CLI catches it without importing torch)."""


def verifiers_load(cfg, base_dir) -> nullcontext:
    """For an engine whose processes read their inputs themselves: task.verifier and
    task.audit_verifier load in a worker now, so a spec that fails (or a function that fits no
    form) is an InputError before any process starts."""
    from pacslab.verifiers import VerifierRunner

    try:
        for spec in filter(None, (cfg.task.verifier, cfg.task.audit_verifier)):
            VerifierRunner(spec, base_dir=str(base_dir)).close()
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
    return nullcontext()


ENGINES: dict[str, Engine] = {
    "native": Engine("native", check="pacslab.engines.native.checks:check_native",
                     inputs="pacslab.engines.native.inputs:load_inputs",
                     launch="pacslab.engines.native.loop:run_training", run="pacslab.engines.native.loop"),
    "trl": Engine("trl", check="pacslab.engines.trl.checks:check_trl", inputs="pacslab.engines:verifiers_load",
                  launch="pacslab.engines.trl.launch:launch", run="pacslab.engines.trl.run"),
}


def get(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"engine is {name!r}: use one of {', '.join(ENGINES)}") from None
