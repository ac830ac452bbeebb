"""Who works on a store: one labeller at a time, and whether a run's process is still alive.

**The label lock.** Two ``distil label`` processes on one store would each see the same examples
as pending and each pay for every text. The label stage therefore holds ``<store>.lock``
(``fcntl.flock``, exclusive) from before it decides what is pending until its last answer is
stored; a second process waits for the first (and then finds that work already answered) or,
with ``wait=False``, refuses with :class:`StoreBusy`. What callers may rely on:

* The lock belongs to the open file description: the kernel releases it when the holder exits,
  however it exits (SIGKILL included), so a crashed run never leaves the store locked.
* The holder writes its pid into the file, so the one who waits can say whom it waits for.
* A wait can be interrupted (Ctrl-C raises KeyboardInterrupt as usual).
* An in-memory store, or a platform without ``fcntl`` (Windows), is not locked.

**Live runs.** A run records the pid, host name and start token of the process that started it
(:func:`this_process`); :func:`process_gone` tells a later reader that such a process ended
without finishing the run (killed with SIGKILL, the machine lost power), so the run can be shown
as ``interrupted`` instead of ``running`` forever. A run of another host is never judged.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import DistilError

__all__ = ["StoreBusy", "label_lock", "lock_path", "process_gone", "this_process"]


class StoreBusy(DistilError):
    """Another process holds the store's label lock, and the caller chose not to wait."""

    code = "E020"


def lock_path(store_path: Path) -> Path:
    """The lock file of a store: ``distil.db`` → ``distil.db.lock`` in the same folder."""
    return store_path.with_name(store_path.name + ".lock")


def _holder(path: Path) -> int | None:
    """The pid the current holder wrote into the lock file (None if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def label_lock(
    store_path: Path | None,
    *,
    wait: bool = True,
    on_wait: Callable[[int | None], None] | None = None,
) -> Iterator[None]:
    """Hold the store's label lock for the block.

    When another process holds it: with ``wait`` call ``on_wait(pid of the holder)`` once and
    block until it is free; without, raise :class:`StoreBusy` naming the holder.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; a second labeller may pay twice
        fcntl = None  # type: ignore[assignment]
    if store_path is None or fcntl is None:
        yield
        return
    path = lock_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(path)
            who = f"pid {pid}" if pid is not None else "another process"
            if not wait:
                raise StoreBusy(
                    f"another distil label ({who}) is running on this store ({store_path}): "
                    "wait for it to finish, or run again without --no-wait to wait for it"
                ) from None
            if on_wait is not None:
                on_wait(pid)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- live runs ------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (Linux; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ")"
    return stat.rsplit(")", 1)[-1].split()


def _start_token(pid: int) -> str | None:
    """``boot id:start time`` of a process (Linux), so a reused pid is not taken for the old one."""
    fields = _stat(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    return f"{boot}:{fields[19]}" if fields is not None and len(fields) > 19 else None


def this_process() -> tuple[int, str, str | None]:
    """``(pid, host name, start token)`` of this process, as a run records them."""
    pid = os.getpid()
    return pid, socket.gethostname(), _start_token(pid)


def process_gone(pid: int | None, host: str | None, token: str | None) -> bool:
    """Whether the process that recorded ``(pid, host, token)`` has certainly ended.

    False when it cannot be told: no pid recorded (a run from an older distil), another host,
    or Windows (where ``os.kill`` would end the process instead of probing it).
    """
    if pid is None or host != socket.gethostname() or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        pass
    except OSError:
        return False
    fields = _stat(pid)
    if fields is not None and fields[:1] == ["Z"]:  # a zombie: it has exited, unreaped
        return True
    return token is not None and _start_token(pid) not in (None, token)
