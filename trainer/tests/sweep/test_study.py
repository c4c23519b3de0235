"""A trial Optuna created but a killed controller never gave its parameters gets them on resume."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from pacslab.sweep.study import complete_params

GRID = {"optim.lr": [0.001, 0.003], "pacs.beta": [0.5, 1.0]}


def grid_study(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    return optuna.create_study(study_name="sw", storage=storage, sampler=optuna.samplers.GridSampler(GRID, seed=0),
                               direction="maximize")


def test_a_grid_trial_killed_before_its_parameters_gets_an_unvisited_grid_point(tmp_path):
    study = grid_study(tmp_path)
    dists = {k: CategoricalDistribution(v) for k, v in GRID.items()}
    given = []
    for _ in range(3):
        t = study.ask(dists)
        given.append(tuple(t.params[k] for k in GRID))
        study.tell(t, 1.0)
    # the kill: the trial exists (RUNNING) and nothing else was written
    trial_id = study._storage.create_new_trial(study._study_id)
    frozen = study._storage.get_trial(trial_id)
    assert frozen.params == {} and frozen.state == TrialState.RUNNING
    params = complete_params(study, frozen, dists)
    left = {(lr, b) for lr in GRID["optim.lr"] for b in GRID["pacs.beta"]} - set(given)
    assert {tuple(params[k] for k in GRID)} == left
    assert study._storage.get_trial(trial_id).params == params  # written to the journal, so a second resume agrees
    assert complete_params(study, study._storage.get_trial(trial_id), dists) == params


def test_a_trial_with_some_parameters_keeps_them_and_gets_the_rest_in_range(tmp_path):
    study = optuna.create_study(storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))), sampler=optuna.samplers.RandomSampler(seed=1))
    dists = {"optim.lr": FloatDistribution(1e-4, 1e-2, log=True), "rollout.n": IntDistribution(2, 8, step=2),
             "pacs.beta": CategoricalDistribution([0.5, 1.0])}
    trial_id = study._storage.create_new_trial(study._study_id)
    study._storage.set_trial_param(trial_id, "optim.lr", 0.005, dists["optim.lr"])
    params = complete_params(study, study._storage.get_trial(trial_id), dists)
    assert params["optim.lr"] == 0.005 and params["rollout.n"] in (2, 4, 6, 8) and params["pacs.beta"] in (0.5, 1.0)
