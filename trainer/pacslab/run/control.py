"""Control of a running trainer: control.jsonl commands and POSIX signals.

The extension (or the CLI) appends `{"seq", "command", "t"}` lines to control.jsonl; the trainer
reads the new complete lines between steps, acts on each, and acknowledges it with a
`control_ack` event. The highest handled seq is saved in every checkpoint, so a resumed run never
re-applies a command it already obeyed.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pacslab.run.files import CONTROL, RunInfo, UnsafeRunPath, append_run_file, read_run_file

COMMANDS = ("pause", "resume", "stop", "suspend", "checkpoint")
EXIT_STATUSES = {"stop": "stopped", "suspend": "suspended"}  # the commands that end a run, and its status then
POLL_S = 0.2


@dataclass
class Command:
    seq: int
    command: str


class ControlReader:
    """Yields each new complete control.jsonl line once, tracking the byte offset it read to."""

    def __init__(self, run_dir: Path, last_seq: int = 0):
        self.path = Path(run_dir) / CONTROL
        self.offset = 0
        self.last_seq = last_seq

    def poll(self) -> list[Command]:
        try:
            data = read_run_file(self.path, self.offset)
        except (FileNotFoundError, UnsafeRunPath):  # a link in place of control.jsonl is never obeyed
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        commands = []
        for line in complete.splitlines():
            cmd = _parse(line)
            if cmd is not None and cmd.seq > self.last_seq:
                commands.append(cmd)
        return commands

    def exit_pending(self) -> bool:
        """Whether an unread complete line asks to stop or suspend (read again by the next poll)."""
        try:
            data = read_run_file(self.path, self.offset)
        except (FileNotFoundError, UnsafeRunPath):
            return False
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        return any(cmd is not None and cmd.seq > self.last_seq and cmd.command in ("stop", "suspend")
                   for cmd in map(_parse, lines))


def _parse(line: bytes) -> Command | None:
    try:
        obj = json.loads(line)
        seq = int(obj["seq"])
        command = str(obj["command"])
    except (ValueError, KeyError, TypeError):
        return None
    return Command(seq, command)


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
    """Appends a command with seq = 1 + the highest seq in the file (for the CLI and tests)."""
    path = Path(run_dir) / CONTROL
    seqs = [0]
    try:
        lines = read_run_file(path).splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        cmd = _parse(line)
        if cmd is not None:
            seqs.append(cmd.seq)
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
