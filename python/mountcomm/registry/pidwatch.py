"""Process liveness for the portpicker dialect, whose ports live as long as a pid.

`check_pid_request` decides whether a pid may hold a port (pure apart from
reading ``/proc``). `PidWatcher` calls back once when a watched process ends:
through a pidfd (Linux ≥ 5.3) that the event loop watches, so the port comes
back the moment the process dies; elsewhere by checking every ``poll_interval``.
"""

from __future__ import annotations

__all__ = ["PidWatcher", "check_pid_request", "is_kernel_thread", "pid_alive", "pid_uid"]

import asyncio
import os
from collections.abc import Callable
from typing import Any

from .. import log as mlog
from .peer import Credentials

_PROC = "/proc"
_PF_KTHREAD = 0x00200000  # task flag of kernel threads (linux/sched.h)


def _stat_field(pid: int, index: int) -> str | None:
    """Field ``index`` of /proc/<pid>/stat after the command name (0: the state),
    or None if the process is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 1 :].decode("ascii", "replace").split()
    return fields[index] if index < len(fields) else None


def _start_time(pid: int) -> str | None:
    return _stat_field(pid, 19)


def pid_alive(pid: int) -> bool:
    """Return True if process ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    if os.path.isdir(_PROC):
        return _stat_field(pid, 0) not in (None, "Z", "X")
    try:  # pragma: no cover - no procfs
        os.kill(pid, 0)
    except ProcessLookupError:  # pragma: no cover
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True  # pragma: no cover


def is_kernel_thread(pid: int) -> bool:
    """Return True if ``pid`` is a kernel thread (it has no user process to hold a port)."""
    flags = _stat_field(pid, 6)
    return flags is not None and flags.isdigit() and bool(int(flags) & _PF_KTHREAD)


def pid_uid(pid: int) -> int | None:
    """Return the uid owning process ``pid``, or `None` if it cannot be told."""
    try:
        return os.stat(f"{_PROC}/{pid}").st_uid
    except OSError:
        return None


def check_pid_request(pid: int, credentials: Credentials) -> str | None:
    """Decide whether process ``pid`` may hold a port for a caller.

    Returns
    -------
    reason : `str` or `None`
        Why not, or `None` if it may: ``pid`` is a live process other than init
        and not a kernel thread, owned by the caller (unless the caller is root
        or its uid is unknown).
    """
    if pid <= 0:
        return f"pid must be positive, got {pid}"
    if pid == 1:
        return "pid 1 never exits; send the pid of the process that will use the port"
    if not pid_alive(pid):
        return f"no running process has pid {pid}"
    if is_kernel_thread(pid):
        return f"pid {pid} is a kernel thread, not a process that can use a port"
    owner = pid_uid(pid)
    caller = credentials.uid
    if caller not in (None, 0) and owner is not None and owner != caller:
        return f"process {pid} belongs to uid {owner}, not to the caller (uid {caller})"
    return None


class PidWatcher:
    """Call ``on_exit(pid)`` once when each watched process ends.

    Parameters
    ----------
    on_exit : callable (`int`) -> `None`
        Called from the event loop with the pid of a process that ended. It must
        not raise (exceptions are logged).
    poll_interval : `float`
        Check period where pidfds are not available [s].
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Notes
    -----
    `watch` must be called from the running event loop. `close` stops every
    watch without calling ``on_exit``; it is idempotent and cancel-safe.
    """

    def __init__(
        self,
        on_exit: Callable[[int], None],
        *,
        poll_interval: float = 1.0,
        log: Any = None,
    ) -> None:
        self.on_exit = on_exit
        self.poll_interval = poll_interval
        self.log = mlog.get_logger(log, "PidWatcher")
        self._fds: dict[int, int] = {}  # pid -> pidfd
        self._polled: dict[int, str | None] = {}  # pid -> start time
        self._poll_task: asyncio.Task[None] | None = None
        self._closed = False

    def __contains__(self, pid: object) -> bool:
        return pid in self._fds or pid in self._polled

    def __len__(self) -> int:
        return len(self._fds) + len(self._polled)

    def watch(self, pid: int) -> None:
        """Start watching ``pid`` (idempotent). If it is already gone, ``on_exit``
        is called soon."""
        if self._closed:
            raise RuntimeError("PidWatcher is closed")
        if pid in self:
            return
        loop = asyncio.get_running_loop()
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                fd = pidfd_open(pid)
            except ProcessLookupError:
                self._fds[pid] = -1
                loop.call_soon(self._exited, pid)
                return
            except OSError as e:  # no pidfd support (old kernel, seccomp): poll
                self.log.debug("pidfd_unavailable", pid=pid, error=str(e))
            else:
                self._fds[pid] = fd
                loop.add_reader(fd, self._exited, pid)
                return
        self._polled[pid] = _start_time(pid)
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.create_task(self._poll(), name="PidWatcher.poll")

    def _unwatch_fd(self, pid: int) -> bool:
        """Stop watching ``pid``'s pidfd; False if there was none."""
        fd = self._fds.pop(pid, None)
        if fd is not None and fd >= 0:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        return fd is not None

    def _exited(self, pid: int) -> None:
        if self._unwatch_fd(pid):
            self._notify(pid)

    def _notify(self, pid: int) -> None:
        self.log.debug("process_exited", pid=pid)
        try:
            self.on_exit(pid)
        except Exception:
            self.log.exception("on_exit_failed", pid=pid)

    async def _poll(self) -> None:
        while self._polled:
            await asyncio.sleep(self.poll_interval)
            for pid, started in list(self._polled.items()):
                if not pid_alive(pid) or _start_time(pid) != started:
                    del self._polled[pid]
                    self._notify(pid)

    async def close(self) -> None:
        """Stop watching every process (idempotent)."""
        self._closed = True
        for pid in list(self._fds):
            self._unwatch_fd(pid)
        self._polled.clear()
        task, self._poll_task = self._poll_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})  # propagates only a cancellation of the caller
