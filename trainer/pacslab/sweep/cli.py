"""`python -m pacslab sweep`: start a sweep (a config with `sweep:` or a `*.sweep.yaml`), resume,
pause or stop one, list them. The sweep runs in a detached controller process (docs/sweeps.md).

Exit codes: 0 success, 1 a failed sweep, 2 a config or usage error."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pacslab.run import files as runio
from pacslab.config import ConfigError
from pacslab.run.control import append_command
from pacslab.run.lifecycle import EXIT_CONFIG
from pacslab.run.safe_json import print_listing, terminal_text
from pacslab.sweep.space import Sweep, dump_spec, load_sweep, space_document
from pacslab.sweep.store import CONTROLLER_LOG, LIVE, SPACE, SPEC, SweepDir, list_sweeps, sweeps_root_of


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pacslab sweep", description="Run a sweep of a config (docs/sweeps.md).")
    p.add_argument("config", nargs="?", type=Path, help="a *.pacs.yaml with a `sweep:` section, or a *.sweep.yaml")
    p.add_argument("--runs-root", type=Path, default=Path(".pacs") / "runs", help="where the runs go (default .pacs/runs); "
                   "the sweep folder goes into the `sweeps` folder beside it")
    p.add_argument("--sweep-dir", type=Path, help="the new sweep's folder (made by a launcher that captured the code in it)")
    p.add_argument("--new", action="store_true", help="start a new sweep even when an unfinished one of this config exists")
    p.add_argument("--foreground", action="store_true", help="run the controller in this process instead of a detached one")
    p.add_argument("--json", action="store_true", help="print the sweep's sweep.json (or with --status, all of them)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--resume", type=Path, metavar="SWEEP_DIR", help="start the controller of an unfinished sweep again")
    act.add_argument("--control", nargs=2, metavar=("SWEEP_DIR", "COMMAND"), help="pause, resume or stop a sweep")
    act.add_argument("--status", nargs="?", const=True, metavar="SWEEPS_ROOT", help="list the sweeps (default .pacs/sweeps)")
    act.add_argument("--controller", type=Path, metavar="SWEEP_DIR", help=argparse.SUPPRESS)
    act.add_argument("--array-task", type=Path, metavar="SWEEP_DIR", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        return _usage("sweeps need Optuna, which is not installed in this Python: pip install 'pacslab[sweep]' (or optuna)")
    if not (args.status or args.control):  # every other action starts or runs a controller
        from pacslab.sweep.controller import poll_s

        try:
            poll_s()
        except ValueError as exc:
            return _usage(str(exc))
    if args.controller:
        return _run_controller(args.controller)
    if args.array_task:
        from pacslab.sweep.slurm import run_array_task

        return run_array_task(args.array_task)
    if args.control:
        return _control(Path(args.control[0]), args.control[1])
    if args.status:
        root = sweeps_root_of(args.runs_root) if args.status is True else Path(args.status)
        return _status(root, args.json)
    if args.resume:
        return _resume(args.resume, args)
    if args.config is None:
        return _usage("give a CONFIG (a *.pacs.yaml with `sweep:`, or a *.sweep.yaml), or --resume/--control/--status")
    return _start(args)


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def spec_hash(sweep: Sweep) -> str:
    return hashlib.sha256(dump_spec(sweep).encode()).hexdigest()[:16]


def _start(args) -> int:
    try:
        sweep = load_sweep(args.config)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    runs_root = args.runs_root.resolve()
    root = sweeps_root_of(runs_root)
    digest = spec_hash(sweep)
    if not args.new:
        for old in list_sweeps(root):
            if old.get("source") == str(sweep.source.resolve()) and old.get("spec_hash") == digest and old["status"] == "crashed":
                _drop_proposed(args.sweep_dir)
                print(f"resuming sweep {old['id']} (its controller had stopped; --new starts another)", flush=True)
                print(f"sweep directory: {old['dir']}", flush=True)
                return _resume(Path(old["dir"]), args)
    sweep_dir = args.sweep_dir.resolve() if args.sweep_dir else root / runio.new_run_id(sweep.name)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if runio.is_regular_file(sweep_dir / "sweep.json"):
        return _usage(f"{sweep_dir} already holds a sweep; continue it with --resume {sweep_dir}")
    sd = SweepDir(sweep_dir)
    runio.write_atomic(sweep_dir / SPEC, dump_spec(sweep))
    runio.write_json_atomic(sweep_dir / SPACE, space_document(sweep))
    spec = sweep.spec
    sd.update(format=1, id=sd.id, name=sweep.name, status="running", created_at=runio.utc_now(),
              source=str(sweep.source.resolve()), config_path=str(sweep.config_path.resolve()), spec_hash=digest,
              runs_root=str(runs_root), workspace=os.getcwd(), method=spec.method, metric=spec.metric.model_dump(),
              parameters=list(spec.parameters), seeds=sweep.seeds, n_trials=sweep.n_trials,
              n_runs=sweep.n_trials * len(sweep.seeds), parallel=spec.parallel, prune=spec.prune, backend=spec.backend,
              controller=None, counts=None, best=None, error=None)
    sd.write_trials([])
    print(f"sweep directory: {sweep_dir}", flush=True)
    return _launch(sd, args)


def _drop_proposed(path: Path | None) -> None:
    """A launcher's new sweep folder that resuming leaves unused (it holds only the captured code)."""
    if path is not None and path.is_dir() and not (path / "sweep.json").exists():
        if {p.name for p in path.iterdir()} <= {"git.json", "git.patch"}:
            for p in path.iterdir():
                p.unlink()
            path.rmdir()


def _launch(sd: SweepDir, args) -> int:
    if sd.info().get("backend") == "slurm":
        from pacslab.sweep.slurm import submit_array

        return submit_array(sd)
    if args.foreground:
        return _run_controller(sd.path)
    with open(sd.path / CONTROLLER_LOG, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "pacslab", "sweep", "--controller", str(sd.path)], stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                 env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sd.update(controller={"pid": child.pid, "pid_start_time": runio.pid_start_time(child.pid), "host": runio.process_fields()["host"]})
    print(f"controller: pid {child.pid} (log: {sd.path / CONTROLLER_LOG})", flush=True)
    if args.json:
        print(json.dumps(sd.info()))
    return 0


def _resume(path: Path, args) -> int:
    sd = SweepDir(path.resolve())
    info = sd.info()
    if not info:
        return _usage(f"{path} is not a sweep folder (no sweep.json)")
    if sd.status() in LIVE:
        return _usage(f"sweep {sd.id} is {sd.status()} and its controller is alive; pause or stop it with --control")
    if info.get("status") in ("finished", "stopped"):
        return _usage(f"sweep {sd.id} is {info['status']}: a sweep that ended is not resumed; start a new one from its config")
    sd.update(status="running")
    return _launch(sd, args)


def _run_controller(path: Path) -> int:
    from pacslab.sweep.controller import Controller

    sd = SweepDir(path)
    try:
        status = Controller(path, log=lambda text: print(text, flush=True)).run()
    except Exception as exc:  # noqa: BLE001 - the sweep must end failed, saying why
        import traceback

        traceback.print_exc()
        sd.update(status="failed", error={"message": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0 if status in ("finished", "stopped") else 1


def _control(path: Path, command: str) -> int:
    if command not in ("pause", "resume", "stop"):
        return _usage(f"unknown command {command!r}; use pause, resume or stop")
    sd = SweepDir(path)
    info = sd.info()
    if not info:
        return _usage(f"{path} is not a sweep folder (no sweep.json)")
    if info.get("backend") == "slurm":
        from pacslab.sweep.slurm import control_array

        return control_array(sd, command)
    if sd.status() not in LIVE:
        return _usage(f"sweep {sd.id} is {sd.status()}: nothing to {command}" + (f"; resume it with --resume {path}" if sd.status() == "crashed" else ""))
    seq = append_command(path, command)
    print(f"{command} sent to sweep {sd.id} (seq {seq})")
    return 0


def _status(root: Path, as_json: bool) -> int:
    def row(s: dict) -> None:
        c = s.get("counts") or {}
        done = f"{c.get('complete', 0) + c.get('pruned', 0) + c.get('failed', 0)}/{s.get('n_trials', '?')}"
        best = s.get("best")
        best_text = f"trial {best['trial']} {s['metric']['name']}={best['value']:.4g} {yaml.safe_dump(best['params'], default_flow_style=True).strip()}" if best else ""
        print(f"{terminal_text(s.get('id', '?')):44} {terminal_text(s['status']):9} {done:>9}  {terminal_text(best_text)}")

    return print_listing(list_sweeps(root), as_json=as_json, empty=f"no sweeps in {root}",
                         header=f"{'SWEEP':44} {'STATUS':9} {'DONE':>9}  BEST", row=row)
