"""The launcher's process of an `engine: trl` run: `python -m pacslab.engines.trl.agent REPORT -m
LAUNCHER ARGS...` runs torchrun (`torch.distributed.run`) or `accelerate.commands.launch` as
`python -m LAUNCHER ARGS...` would, and when a process fails writes which one and how to REPORT.

Both launchers raise torch elastic's `ChildFailedError` when a process fails, after stopping the
others: its `failures` name each failed process's rank, pid and exit code (a negative one for a
signal) and, for a process that recorded its error (the engine's ranks run under torch elastic's
`@record`), its message. launch.py reads the report to end the run; the launcher's own traceback,
which says nothing the report does not, is left out of the output.
"""

from __future__ import annotations

import json
import runpy
import sys


def failures_of(error) -> list[dict]:
    """A ChildFailedError's failures as plain data, in torch elastic's order (first observed first).
    `message` and `traceback` are what the process recorded itself (None after a signal, or an exit
    without a word)."""
    rows = []
    for rank, failure in error.failures.items():
        message = failure.message if isinstance(failure.message, dict) else {}  # {message, extraInfo: {py_callstack}}
        rows.append({"rank": rank, "pid": failure.pid, "exitcode": failure.exitcode,
                     "signal": failure.signal_name() if failure.exitcode < 0 else None,
                     "message": message.get("message"), "traceback": message.get("extraInfo", {}).get("py_callstack"),
                     "timestamp": failure.timestamp})
    return rows


def die_with_parent() -> None:
    """On Linux, has the kernel send this process SIGTERM when its parent (`python -m pacslab
    train`, which run.json names) dies, however it dies: torchrun and accelerate stop their
    processes on SIGTERM, so a killed launcher leaves no rank training on unseen."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import os
    import signal

    parent = os.getppid()
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not allowed here (a seccomp policy): the launcher's own end still stops the run
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if len(argv) < 3 or argv[1] != "-m":
        print("usage: python -m pacslab.engines.trl.agent REPORT -m LAUNCHER [ARGS...]", file=sys.stderr)
        return 2
    report, module, args = argv[0], argv[2], argv[3:]
    die_with_parent()
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except ChildFailedError as error:
        with open(report, "w") as f:
            json.dump(failures_of(error), f)
        print(error, file=sys.stderr, flush=True)  # torch elastic's table of every failed process
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
