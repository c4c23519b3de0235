"""Git commit, branch and dirty flag of a folder, for runs started without a launcher."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(folder: Path) -> dict | None:
    """{commit, branch, dirty, snapshot, ref} of the repository holding `folder`; None outside one.

    Only a launcher snapshots the working tree, so `snapshot` and `ref` stay null here.
    """
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(folder, "status", "--porcelain", "--untracked-files=normal")
    return {
        "commit": commit,
        "branch": None if branch in (None, "HEAD") else branch,
        "dirty": bool(status),
        "snapshot": None,
        "ref": None,
    }
