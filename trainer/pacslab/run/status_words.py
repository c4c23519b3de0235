"""Which status a run's end is (docs/run-format.md): `failed` when the trainer caught an error of
its own and said so, `crashed` when a process is gone without saying so. In a run of several
processes, the error a surviving rank catches when another rank was killed (gloo's "connection
reset by peer", NCCL's "remote process exited", a closed rendezvous store) says that a process is
gone: the run crashed, it did not fail."""

from __future__ import annotations

import re

PEER_GONE = re.compile(
    r"connection (reset|closed) by peer|broken pipe|remote process exited|connection refused|"
    r"socket (closed|timeout)|peer (closed|disconnected)|communicator was aborted|nccl.*(abort|remote)",
    re.IGNORECASE,
)


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def says_peer_gone(message: str) -> bool:
    """Whether an error's text (as a launcher reports a process's error) says another process is gone."""
    return bool(PEER_GONE.search(message)) or message.startswith("DistNetworkError")


def peer_gone(error: BaseException) -> bool:
    """Whether `error` (or one it was raised from) says another process of the run is gone."""
    return any(says_peer_gone(f"{type(item).__name__}: {item}") for item in _chain(error))


def end_status(error: BaseException, world_size: int) -> str:
    """`crashed` when a process of a multi-process run is gone, else `failed`."""
    return "crashed" if world_size > 1 and peer_gone(error) else "failed"
