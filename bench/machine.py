"""Machine details recorded beside every benchmark result, and the one writer of bench/results/*.json.

`python bench/machine.py` prints the details as JSON; `python bench/machine.py --stamp FILE` adds
them to a result a Node benchmark wrote (so Python and Node results carry the same fields).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _run(*cmd: str) -> str | None:
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _module_version(name: str) -> str | None:
    try:
        module = __import__(name)
    except ImportError:
        return None
    return getattr(module, "__version__", None)


def machine() -> dict:
    commit = _run("git", "rev-parse", "HEAD")
    dirty = _run("git", "status", "--porcelain", "--untracked-files=no")
    cuda = None
    try:
        import torch

        if torch.cuda.is_available():
            cuda = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpu": cuda,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": _module_version("torch"),
        "transformers": _module_version("transformers"),
        "node": _run("node", "--version"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": commit,
        "git_dirty": bool(dirty),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(name: str, data: dict) -> Path:
    """bench/results/NAME.json with `machine` filled in."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**data, "machine": machine()}, indent=2) + "\n")
    return path


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--stamp":
        path = Path(argv[1])
        data = json.loads(path.read_text())
        data["machine"] = machine()
        path.write_text(json.dumps(data, indent=2) + "\n")
        return 0
    if argv:
        print("usage: python bench/machine.py [--stamp RESULT.json]", file=sys.stderr)
        return 2
    print(json.dumps(machine(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
