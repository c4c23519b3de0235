"""Control of a running trainer: control.jsonl commands and POSIX signals.

The extension (or the CLI) appends `{"seq", "command", "t"}` lines to control.jsonl; the trainer
reads the new complete lines between steps, acts on each, and acknowledges it with a
`control_ack` event. The highest handled seq is saved in every checkpoint, so a resumed run never
re-applies a command it already obeyed.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pacslab.run import safe_json
from pacslab.run.files import CONTROL, RunInfo
from pacslab.run.safe_files import UnsafeRunPath, append_run_file, open_run_file

COMMANDS = ("pause", "resume", "stop", "suspend", "checkpoint")
EXIT_STATUSES = {"stop": "stopped", "suspend": "suspended"}  # the commands that end a run, and its status then
POLL_S = 0.2


@dataclass
class Command:
    seq: int
    command: str


class ControlReader:
    """Yields each new complete control.jsonl line once, tracking the byte offset it read to.

    A line that is not a command (not JSON, over the line cap, a seq that is not an integer from 1
    to safe_json.MAX_SEQ: a string, a fraction, 1e999) is skipped and passed to `on_rejected` (the
    file, line number and why) for the trainer to report; it never stops the lines after it."""

    def __init__(self, run_dir: Path, last_seq: int = 0, on_rejected: Callable[[str], object] | None = None):
        self.path = Path(run_dir) / CONTROL
        self.last_seq = last_seq
        self.on_rejected = on_rejected or (lambda why: None)
        self._lines = safe_json.BoundedLines()

    @property
    def offset(self) -> int:
        return self._lines.offset

    def _read(self, lines: safe_json.BoundedLines) -> list[tuple[int, Command | None, str | None]]:
        try:
            fd = open_run_file(self.path, os.O_RDONLY)
        except (FileNotFoundError, UnsafeRunPath):  # a link in place of control.jsonl is never obeyed
            return []
        try:
            return [(n, *_command(value, problem)) for n, value, problem in safe_json.iter_json_lines(fd, lines)]
        finally:
            os.close(fd)

    def poll(self) -> list[Command]:
        commands = []
        for line_no, cmd, problem in self._read(self._lines):
            if cmd is None:
                self.on_rejected(f"{self.path} line {line_no}: {problem}; the line is skipped")
            elif cmd.seq > self.last_seq:
                commands.append(cmd)
        return commands

    def exit_pending(self) -> bool:
        """Whether an unread complete line asks to stop or suspend (read again by the next poll)."""
        ahead = copy.copy(self._lines)
        return any(cmd is not None and cmd.seq > self.last_seq and cmd.command in ("stop", "suspend")
                   for _, cmd, _ in self._read(ahead))


def _command(value, problem: str | None) -> tuple[Command | None, str | None]:
    """A control line's command, or why it is none."""
    if problem is not None:
        return None, problem
    if not isinstance(value, dict):
        return None, "not a JSON object"
    seq = value.get("seq")
    if not safe_json.is_valid_seq(seq):
        return None, f"seq {json.dumps(seq)[:40]} is not an integer from 1 to {safe_json.MAX_SEQ}"
    if not isinstance(value.get("command"), str):
        return None, "command is not a string"
    return Command(seq, value["command"]), None


@dataclass
class Orders:
    """What a batch of commands asks of a trainer: `obey` decides, the engine acts."""

    acks: list[tuple[Command, str]]  # each command with its control_ack result, in order
    paused: bool  # whether the run is paused after them
    checkpoint: bool  # a checkpoint is wanted now (asked for, or the run exits)
    exit: tuple[str, str] | None  # (status, reason) the run ends with, if it ends


def obey(commands: list[Command], *, paused: bool, exit_as: tuple[str, str] | None = None) -> Orders:
    """The control protocol, one rule for every engine and the TRL callback: pause and resume
    toggle (a repeat is acknowledged `ignored`), checkpoint asks for one, stop and suspend end the
    run (after the first, another exit is `ignored`), anything else is an unknown command.
    `exit_as` is an exit already decided (a signal)."""
    acks, want_checkpoint = [], False
    for cmd in commands:
        result = "ok"
        if cmd.command not in COMMANDS:
            result = f"ignored: unknown command (use one of {', '.join(COMMANDS)})"
        elif cmd.command == "pause":
            result = "ignored: already paused" if paused else "ok"
            paused = True
        elif cmd.command == "resume":
            result = "ok" if paused else "ignored: not paused"
            paused = False
        elif cmd.command == "checkpoint":
            want_checkpoint = True
        elif exit_as is None:
            exit_as = (EXIT_STATUSES[cmd.command], f"{cmd.command} command (seq {cmd.seq})")
        else:
            result = f"ignored: already exiting as {exit_as[0]}"
        acks.append((cmd, result))
    return Orders(acks, paused, want_checkpoint or exit_as is not None, exit_as)


def append_command(run_dir: Path, command: str) -> int:
    """Appends a command with seq = 1 + the highest valid seq in the file (for the CLI and tests)."""
    path = Path(run_dir) / CONTROL
    seqs = [0]
    try:
        fd = open_run_file(path, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    if fd is not None:
        try:
            for _, value, problem in safe_json.iter_json_lines(fd, safe_json.BoundedLines()):
                cmd, _ = _command(value, problem)
                if cmd is not None:
                    seqs.append(cmd.seq)
        finally:
            os.close(fd)
    seq = max(seqs) + 1
    with append_run_file(path) as f:
        f.write(json.dumps({"seq": seq, "command": command, "t": time.time()}) + "\n")
    return seq


class SignalFlag:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop at the next step boundary; a second
    signal interrupts at once."""

    def __init__(self):
        self.received: str | None = None
        self._previous = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                return

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            self.uninstall()
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name


class Heartbeat:
    """Refreshes run.json's `updated_at` every `interval_s` from a thread of its own, so a long step,
    a pause or a model load still shows the trainer alive to a reader on another host (which has no
    pid to check). run.json also records the interval, from which readers judge a heartbeat stale."""

    def __init__(self, info: RunInfo, interval_s: float):
        self.info = info
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="pacs-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.info.update(heartbeat_s=self.interval_s)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.info.update()
            except OSError:  # a file-system hiccup: the next beat tries again
                continue
