"""`python -m pacslab sweep status` prints a sweep folder's text (untrusted: it may come from a clone) escaped."""

from __future__ import annotations

from pacslab.sweep import cli


def test_status_escapes_control_characters_from_the_sweep_folder(monkeypatch, capsys, tmp_path):
    hostile = {"id": "s\x1b]8;;http://x\x07", "status": "running\r", "n_trials": 2, "counts": {"complete": 1},
               "metric": {"name": "eval/acc\x1b[31m"}, "best": {"trial": 0, "value": 0.5, "params": {"lr": 1e-3}}}
    monkeypatch.setattr(cli, "list_sweeps", lambda root: [hostile])
    assert cli._status(tmp_path, as_json=False) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "s\\u001b]8;;http://x\\u0007" in out and "eval/acc\\u001b[31m" in out
