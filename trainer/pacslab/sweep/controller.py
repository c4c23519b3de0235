"""The sweep's controller: a detached process that asks Optuna for trials, launches each trial's
runs (one per seed) as ordinary runs, reads their events for the metric, reports it to Optuna at
each evaluation and stops a trial its pruner rejects, then tells Optuna the trial's value (the mean
over its seeds). All it knows is in the sweep folder, so a controller started again on the folder
(after a kill, a reboot) picks up where it was: finished trials are never run again, and live runs
are watched again, not restarted."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from pacslab.run import files as runio
from pacslab.config.sweep import SweepConfig
from pacslab.run.control import ControlReader
from pacslab.sweep import runs as trial_runs
from pacslab.sweep.space import Sweep, distributions
from pacslab.sweep.store import SPEC, SweepDir, best_of, counts
from pacslab.sweep.study import complete_params, open_study, prune_reason, write_importance

POLL_S = 1.0  # how often a controller reads its control file and its runs' events
POLL_ENV = "PACSLAB_SWEEP_POLL_S"


def poll_s() -> float:
    """POLL_S, or the seconds PACSLAB_SWEEP_POLL_S says (the tests' sweeps, whose runs last a second,
    poll every 0.05 s: a trial is pruned while its run still trains, and the next one starts sooner)."""
    text = os.environ.get(POLL_ENV)
    if text is None:
        return POLL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 60):
        raise ValueError(f"the environment variable {POLL_ENV} is {text!r}: give the controller's poll interval in "
                         f"seconds, a number above 0 and at most 60, or unset it for the default {POLL_S:g} s")
    return value


def available_gpus() -> list[str]:
    """The GPUs runs may take one each: CUDA_VISIBLE_DEVICES, else those `nvidia-smi -L` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


class Controller:
    def __init__(self, sweep_dir: Path, log=print):
        self.sd = SweepDir(sweep_dir)
        info = self.sd.info()
        self.info = info
        self.spec = SweepConfig.model_validate(yaml.safe_load((self.sd.path / SPEC).read_text()))
        self.seeds: list[int] = list(info["seeds"])
        self.n_trials: int = int(info["n_trials"])
        self.config_path = Path(info["config_path"])
        self.runs_root = Path(info["runs_root"])
        self.workspace = Path(info.get("workspace") or self.config_path.parent)
        self.name = str(info.get("name") or "sweep")
        self.log = log
        self.study = open_study(self.sd, self.spec)
        self.trials = self.sd.trials()
        self.watches: dict[str, trial_runs.RunWatch] = {}
        self.gpus = available_gpus()
        self.paused = info.get("status") == "paused"
        self.stopping = False
        self.poll_s = poll_s()

    # ------------------------------------------------------------ bookkeeping

    def save(self, status: str | None = None) -> None:
        self.sd.write_trials(self.trials)
        fields = {"counts": counts(self.trials, self.n_trials), "best": best_of(self.trials, self.spec.metric.goal)}
        if status:
            fields["status"] = status
        self.sd.update(**fields)

    def trial(self, number: int) -> dict:
        return next(t for t in self.trials if t["number"] == number)

    def live_runs(self) -> list[tuple[dict, dict]]:
        return [(t, r) for t in self.trials for r in t["runs"] if r.get("run_dir") and r.get("ended") is None]

    # ------------------------------------------------------------ the loop

    def run(self) -> str:
        self.sd.update(status="paused" if self.paused else "running", controller=runio.process_fields(), error=None)
        self._adopt_orphans()
        self._spawn_unstarted()
        control = ControlReader(self.sd.path, last_seq=int(self.info.get("control_seq") or 0))
        stop_signal = []
        signal.signal(signal.SIGTERM, lambda *_: stop_signal.append(1))
        while True:
            for cmd in control.poll():
                self._command(cmd.command)
                control.last_seq = cmd.seq
                self.sd.update(control_seq=cmd.seq)
            if stop_signal and not self.stopping:
                self._command("stop")
            self._poll_runs()
            if not self.paused and not self.stopping:
                self._fill_slots()
            live = self.live_runs()
            if self.stopping and not live:
                return self._end("stopped")
            if not live and not self._pending() and self._asked() >= self.n_trials:
                return self._end("finished")
            time.sleep(self.poll_s)

    def _end(self, status: str) -> str:
        for t in self.trials:
            if t["state"] == "running":
                self._finish(t, "failed", error="the sweep was stopped before the trial ended")
        write_importance(self.sd, self.study)
        self.save(status)
        self.log(f"sweep {status}: {self.sd.path}")
        return status

    def _command(self, command: str) -> None:
        self.log(f"control: {command}")
        if command in ("pause", "resume") and not self.stopping:
            self.paused = command == "pause"
            for _, r in self.live_runs():
                trial_runs.send(Path(r["run_dir"]), command)
            self.sd.update(status="paused" if self.paused else "running")
        elif command == "stop":
            self.stopping = True
            for _, r in self.live_runs():
                trial_runs.send(Path(r["run_dir"]), "stop")
            self.sd.update(status="stopping")

    def _asked(self) -> int:
        return len(self.trials)

    def _pending(self) -> list[tuple[dict, dict]]:
        return [(t, r) for t in self.trials if t["state"] == "running" for r in t["runs"] if not r.get("run_dir")]

    def _adopt_orphans(self) -> None:
        """Trials Optuna gave out but the map lost (killed between the two writes) join the map, with
        every parameter (one killed while Optuna was still writing them gets the rest now)."""
        from optuna.trial import TrialState

        known = {t["number"] for t in self.trials}
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen.number not in known:
                self._add_trial(frozen.number, complete_params(self.study, frozen, distributions(self._sweep_view())))

    def _add_trial(self, number: int, params: dict, *, save: bool = True) -> None:
        self.trials.append({"number": number, "params": params, "state": "running", "value": None, "pruned": None,
                            "error": None, "reported": [], "runs": [{"seed": s, "run_id": None, "run_dir": None, "ended": None,
                                                                       "value": None} for s in self.seeds]})
        self.trials.sort(key=lambda t: t["number"])
        if save:
            self.save()

    def _fill_slots(self) -> None:
        while len(self.live_runs()) < self.spec.parallel:
            pending = self._pending()
            if not pending:
                if self._asked() >= self.n_trials:
                    return
                trial = self.study.ask(distributions(self._sweep_view()))
                self._add_trial(trial.number, dict(trial.params))
                self.log(f"trial {trial.number}: {trial.params}")
                continue
            t, r = pending[0]
            self._launch(t, r)

    def _sweep_view(self) -> Sweep:
        return Sweep(self.config_path, self.spec, None, self.config_path)  # type: ignore[arg-type]

    def _launch(self, t: dict, r: dict) -> None:
        run_dir = trial_runs.make_run_dir(self.sd, runs_root=self.runs_root, name=self.name, config_path=self.config_path,
                                          trial=t["number"], seed=r["seed"], params=t["params"], workspace=self.workspace)
        r.update(run_id=run_dir.name, run_dir=str(run_dir))
        self.save()
        self._spawn(t, r, run_dir)

    def _spawn_unstarted(self) -> None:
        """A run the map holds whose trainer was never started (the controller was killed between
        recording the run and spawning its trainer: no launcher.json, run.json still `starting` with no
        pid) is started now, instead of being read as a crash."""
        for t, r in self.live_runs():
            run_dir = Path(r["run_dir"])
            info = runio.read_json(run_dir / runio.RUN_JSON) or {}
            if not (run_dir / "launcher.json").is_file() and info.get("status") == "starting" and info.get("pid") is None:
                running = trial_runs.trainers_of(run_dir)
                if running:  # spawned just before the kill, not yet recorded: followed, not started twice
                    self.log(f"trial {t['number']} seed {r['seed']}: run {run_dir.name} was started (pid {running[0]}) "
                             "but not recorded; following it")
                    args = trial_runs.spawn_args(self.config_path, run_dir, t["params"], r["seed"], self.spec.set)
                    trial_runs.record_launcher(run_dir, running[0], args, self.config_path)
                    continue
                self.log(f"trial {t['number']} seed {r['seed']}: run {run_dir.name} was never started; starting it")
                self._spawn(t, r, run_dir)

    def _spawn(self, t: dict, r: dict, run_dir: Path) -> None:
        busy = {r2.get("gpu") for _, r2 in self.live_runs() if r2 is not r}
        gpu = next((g for g in self.gpus if g not in busy), None) if len(self.gpus) > 1 else None
        r["gpu"] = gpu
        pid = trial_runs.spawn_run(run_dir, self.config_path, t["params"], r["seed"], fixed=self.spec.set, gpu=gpu)
        self.log(f"trial {t['number']} seed {r['seed']}: run {run_dir.name} (pid {pid})")
        self.save()

    # ------------------------------------------------------------ reading the runs

    def _poll_runs(self) -> None:
        for t, r in self.live_runs():
            watch = self.watches.get(r["run_dir"])
            if watch is None:
                watch = self.watches[r["run_dir"]] = trial_runs.RunWatch(Path(r["run_dir"]), self.spec.metric.name)
            watch.poll()
            if watch.ended is not None:
                r["ended"] = watch.ended
                r["value"] = watch.value(self.spec.metric.at, self.spec.metric.goal)
                self._mark_run(t, r)
                self.save()
        for t in self.trials:
            if t["state"] == "running":
                self._report(t)
                self._maybe_finish(t)

    def _report(self, t: dict) -> None:
        """Reports each step every seed has reached (their mean) and prunes when Optuna says so."""
        if self.spec.prune == "none" or any(not r.get("run_dir") for r in t["runs"]):
            return
        watches = [self.watches.get(r["run_dir"]) for r in t["runs"]]
        if any(w is None for w in watches):
            return
        steps = sorted(set.intersection(*(set(w.values) for w in watches)) - set(t["reported"]))
        if not steps:
            return
        import optuna

        live = optuna.trial.Trial(self.study, self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, t["number"]))
        for step in steps:
            value = sum(w.values[step] for w in watches) / len(watches)
            live.report(value, step)
            t["reported"].append(step)
            if live.should_prune():
                reason = prune_reason(self.study, t["number"], step, value, self.spec)
                t["pruned"] = {"step": step, "reason": reason}
                self.log(f"trial {t['number']} pruned: {reason}")
                for r in t["runs"]:
                    if r.get("ended") is None:
                        trial_runs.send(Path(r["run_dir"]), "stop")
                self._finish(t, "pruned", value=value)
                return
        self.save()

    def _maybe_finish(self, t: dict) -> None:
        if any(r.get("ended") is None for r in t["runs"]):
            return
        bad = [r for r in t["runs"] if r["ended"] != "finished" or r.get("value") is None]
        if bad:
            r = bad[0]
            why = (f"run {r['run_id']} ended {r['ended']}" if r["ended"] != "finished"
                   else f"run {r['run_id']} logged no {self.spec.metric.name}")
            self._finish(t, "failed", error=why)
        else:
            self._finish(t, "complete", value=sum(r["value"] for r in t["runs"]) / len(t["runs"]))

    def _finish(self, t: dict, state: str, *, value: float | None = None, error: str | None = None) -> None:
        from optuna.trial import TrialState

        t.update(state=state, value=value, error=error)
        optuna_state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}[state]
        try:
            self.study.tell(t["number"], value if state == "complete" else None, state=optuna_state)
        except RuntimeError:
            pass  # GridSampler calls study.stop() after the last grid point, outside optimize(); the state is stored
        except ValueError as exc:  # told before a kill: the journal already has it
            self.log(f"trial {t['number']}: {exc}")
        for r in t["runs"]:
            if r.get("ended") is not None:
                self._mark_run(t, r)
        self.log(f"trial {t['number']} {state}" + (f": {value:.4g}" if value is not None else f": {error}" if error else ""))
        if state == "complete":
            write_importance(self.sd, self.study)
        self.save()

    def _mark_run(self, t: dict, r: dict) -> None:
        """Once its trainer is gone, the run's run.json gets the trial's state (and why it was pruned)."""
        info = runio.RunInfo(Path(r["run_dir"]))
        sweep = dict(info.get("sweep") or {})
        sweep.update(trial_state=t["state"], pruned=t.get("pruned"))
        info.update(sweep=sweep)
