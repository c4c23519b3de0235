"""The extension at scale: generate (once) a 1,000-step × 1,024-sample run, time the core on it,
time the dashboard's first render in Chromium, and compare each with its target.

    python bench/extension_scale/run.py [--steps 1000] [--samples 1024] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from machine import write_result  # noqa: E402

TARGETS = {  # name: (target, unit, where the measurement is read from)
    "open_run": (500.0, "ms"),
    "load_step": (100.0, "ms"),
    "dashboard_first_render": (1000.0, "ms"),
    "host_memory_rss": (300.0, "MiB"),
}


def evict_from_page_cache(directory: Path) -> None:
    """Drops the run's files (only those) from the OS page cache, so the core reads them from disk
    as when a user opens an old run. Linux only; elsewhere the timings are warm-cache ones."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def node(script: str, *args: str) -> dict:
    cmd = ["node", "--expose-gc", "--import", "tsx", str(HERE / script), *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(Path(args[-1]).read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--token-every", type=int, default=16)
    p.add_argument("--work", type=Path, default=BENCH / ".work" / "scale")
    p.add_argument("--regenerate", action="store_true")
    args = p.parse_args()
    marker = args.work / "generated.json"
    wanted = {"steps": args.steps, "samples_per_step": args.samples, "token_details_every_groups": args.token_every}
    have = json.loads(marker.read_text()) if marker.is_file() else {}
    if args.regenerate or any(have.get(k) != v for k, v in wanted.items()):
        free_gib = shutil.disk_usage(args.work.parent if args.work.parent.exists() else BENCH).free / 2**30
        print(f"generating {args.steps} steps x {args.samples} samples into {args.work} ({free_gib:.0f} GiB free)", flush=True)
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--out", str(args.work), "--steps", str(args.steps),
                        "--samples", str(args.samples), "--token-every", str(args.token_every)], check=True)
        have = json.loads(marker.read_text())
    evict_from_page_cache(args.work)
    core = node("measure.ts", str(args.work), str(BENCH / ".work" / "scale-core.json"))
    warm = node("measure.ts", str(args.work), str(BENCH / ".work" / "scale-core-warm.json"))
    render = node("render.ts", str(args.work), str(BENCH / ".work" / "scale-render.json"))
    measured = {
        "open_run": core["open_run_ms"],
        "load_step": core["load_step_ms"],
        "dashboard_first_render": render["host_decimated"]["first_render_ms_median"],
        "host_memory_rss": core["memory_after_step"]["rss_mib"],
    }
    checks = {name: {"target": f"< {target:g} {unit}", "measured": measured[name], "unit": unit, "pass": measured[name] < target}
              for name, (target, unit) in TARGETS.items()}
    data = {
        "benchmark": "extension_scale",
        "description": "core RunStore on a synthetic run, its files first dropped from the page cache (open = construct + first refresh; one step = loadRollouts of an uncached step); "
                       "dashboard first render of 20 series x 10,000 steps in headless Chromium (host-decimated as the extension sends it); "
                       "memory = the Node process holding the store after both (RSS after GC), not a whole VS Code extension host",
        "run": have,
        "checks": checks,
        "pass": all(c["pass"] for c in checks.values()),
        "core": core,
        "core_warm_cache": warm,
        "dashboard": render,
    }
    path = write_result("extension_scale", data)
    for name, c in checks.items():
        print(f"{name}: {c['measured']} {c['unit']} (target {c['target']}) {'PASS' if c['pass'] else 'FAIL'}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
