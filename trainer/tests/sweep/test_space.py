"""The sweep's config checks: every key of `sweep:` and of a *.sweep.yaml is checked like the rest
of the config, with the file, line, key and fix."""

from __future__ import annotations

import pytest
import yaml

from pacslab.config import ConfigError, load_config
from pacslab.sweep.space import distributions, grid_points, load_sweep, space_document


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def issues_of(path):
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    return {i.key: i for i in err.value.issues}


def test_a_grid_of_two_lists_and_two_seeds_is_four_trials_of_two_runs(tmp_path):
    path = write(tmp_path, "g.pacs.yaml", {"total_steps": 3, "sweep": {
        "parameters": {"optim.lr": [0.001, 0.003], "pacs.beta": [0.5, 1.0]}, "seeds": [0, 1], "parallel": 2}})
    sweep = load_sweep(path)
    assert sweep.n_trials == 4 and sweep.seeds == [0, 1]
    assert {"optim.lr": 0.003, "pacs.beta": 0.5} in grid_points(sweep.spec)
    assert space_document(sweep)["trials"] == 4
    assert load_config(path).total_steps == 3  # `train` reads a config with a sweep section as before


def test_unknown_key_range_on_text_and_too_big_a_grid_name_key_line_and_fix(tmp_path):
    path = tmp_path / "bad.pacs.yaml"
    path.write_text("total_steps: 2\nsweep:\n  parameters:\n    optim.lrr: [0.1]\n    task.verifier: {low: 1, high: 2}\n"
                    "    rollout.n: [2, 3, 4]\n  seeds: [0, 1]\n  max_runs: 4\n")
    found = issues_of(path)
    assert found["sweep.parameters.optim.lrr"].line == 4 and "optim.lr" in found["sweep.parameters.optim.lrr"].fix
    verifier = [i for i in found.values() if i.key == "sweep.parameters.task.verifier"]
    assert verifier and verifier[0].line == 5
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    text = str(err.value)
    assert "a range needs a number key" in text and "bad.pacs.yaml:5" in text
    assert "3 combinations × 2 seeds = 6 runs, more than max_runs (4)" in text
    assert found["sweep.max_runs"].line == 8 and "raise max_runs" in found["sweep.max_runs"].fix


def test_a_value_the_key_does_not_take_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "v.pacs.yaml"
    path.write_text("sweep:\n  parameters:\n    rollout.n: [2, x]\n    pacs.adv_estimator: [rloo, nope]\n")
    found = issues_of(path)
    assert found["sweep.parameters.rollout.n"].line == 3 and '"x"' in found["sweep.parameters.rollout.n"].problem
    assert "use one of" in found["sweep.parameters.pacs.adv_estimator"].fix


def test_tpe_needs_max_runs_and_ranges_are_checked(tmp_path):
    path = write(tmp_path, "t.pacs.yaml", {"sweep": {"method": "tpe", "parameters": {
        "optim.lr": {"low": 0.1, "high": 0.01, "log": True}, "rollout.n": {"low": 2, "high": 8.5}, "seed": [1, 2]}}})
    found = issues_of(path)
    assert "max_runs" in found["sweep.max_runs"].problem + found["sweep.max_runs"].fix
    assert "low (0.1) is not below high" in found["sweep.parameters.optim.lr"].problem
    assert "integer" in found["sweep.parameters.rollout.n"].problem
    assert "sweep.seeds" in found["sweep.parameters.seed"].fix


def test_unknown_sweep_key_is_a_schema_error(tmp_path):
    path = write(tmp_path, "u.pacs.yaml", {"sweep": {"parameters": {"optim.lr": [0.1]}, "paralel": 2}})
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert "sweep.paralel" in str(err.value) and "parallel" in str(err.value)


def test_a_sweep_file_names_its_base_config(tmp_path):
    write(tmp_path, "base.pacs.yaml", {"total_steps": 2})
    path = write(tmp_path, "lr.sweep.yaml", {"base": "base.pacs.yaml", "method": "random", "max_runs": 6, "seeds": [0, 1],
                                               "parameters": {"optim.lr": {"low": 1e-4, "high": 1e-2, "log": True},
                                                              "rollout.n": {"low": 2, "high": 8}}})
    sweep = load_sweep(path)
    assert sweep.config_path == tmp_path / "base.pacs.yaml" and sweep.n_trials == 3
    d = distributions(sweep)
    assert d["optim.lr"].log and type(d["rollout.n"]).__name__ == "IntDistribution"
    missing = write(tmp_path, "m.sweep.yaml", {"base": "nope.pacs.yaml", "parameters": {"optim.lr": [1]}})
    assert "does not exist" in issues_of(missing)["base"].problem
    bad_key = write(tmp_path, "k.sweep.yaml", {"base": "base.pacs.yaml", "parameters": {"optim.lr": [0.1]}, "metrc": {}})
    assert "metrc" in issues_of(bad_key)


def test_a_config_without_a_sweep_says_how_to_add_one(tmp_path):
    path = write(tmp_path, "n.pacs.yaml", {"total_steps": 2})
    assert "sweep:" in issues_of(path)["sweep"].fix


def test_starting_a_sweep_whose_controller_died_resumes_it_and_drops_the_proposed_folder(tmp_path, monkeypatch, capsys):
    from pacslab.sweep import cli
    from pacslab.sweep.store import SweepDir

    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, "r.pacs.yaml", {"sweep": {"parameters": {"optim.lr": [0.001]}}})
    sweep = load_sweep(config)
    sd = SweepDir(tmp_path / ".pacs" / "sweeps" / "20261207-000000-r-0000")
    sd.path.mkdir(parents=True)
    (sd.path / "spec.yaml").write_text(yaml.safe_dump(sweep.spec.model_dump(mode="json")))
    trial = {"number": 0, "params": {"optim.lr": 0.001}, "state": "complete", "value": 0.5, "pruned": None, "error": None,
             "reported": [], "runs": [{"seed": 0, "run_id": "r0", "run_dir": "/nowhere/r0", "ended": "finished", "value": 0.5}]}
    sd.write_trials([trial])
    sd.update(id=sd.id, name="r", status="running", source=str(config.resolve()), config_path=str(config.resolve()),
              spec_hash=cli.spec_hash(sweep), runs_root=str(tmp_path / ".pacs" / "runs"), seeds=[0], n_trials=1,
              backend="local", controller={"pid": 2 ** 22 + 5, "pid_start_time": "1", "host": "elsewhere"})
    assert sd.status() == "crashed"
    proposed = tmp_path / ".pacs" / "sweeps" / "proposed"
    proposed.mkdir()
    (proposed / "git.json").write_text("null")
    assert cli.main([str(config), "--sweep-dir", str(proposed), "--foreground"]) == 0
    out = capsys.readouterr().out
    assert f"resuming sweep {sd.id}" in out and f"sweep directory: {sd.path}" in out
    assert not proposed.exists()
    assert sd.info()["status"] == "finished" and sd.trials()[0]["value"] == 0.5  # nothing ran again
    assert cli.main(["--resume", str(sd.path)]) == 2  # a finished sweep is not resumed


def test_set_gives_every_trial_keys_and_is_checked(tmp_path):
    write(tmp_path, "base.pacs.yaml", {"total_steps": 300})
    good = write(tmp_path, "g.sweep.yaml", {"base": "base.pacs.yaml", "set": {"total_steps": 60, "eval.k": [1, 2]},
                                             "parameters": {"optim.lr": [0.1, 0.2]}})
    assert load_sweep(good).spec.set == {"total_steps": 60, "eval.k": [1, 2]}
    bad = write(tmp_path, "b.sweep.yaml", {"base": "base.pacs.yaml", "set": {"total_stepz": 60, "optim.lr": 0.1, "seed": 3,
                                                                            "rollout.n": "many"},
                                            "parameters": {"optim.lr": [0.1, 0.2]}})
    found = issues_of(bad)
    assert "no such config key" in found["set.total_stepz"].problem
    assert "also a parameter" in found["set.optim.lr"].problem
    assert "sweep.seeds" in found["set.seed"].fix
    assert '"many" is not a value of rollout.n' in found["set.rollout.n"].problem
