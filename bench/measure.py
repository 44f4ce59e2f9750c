"""Run one command in its own process: wall seconds and the peak memory (RSS) of its process tree.

The wall time is taken around the whole process (interpreter start and imports included: what a
user waits for). The peak RSS is polled every 50 ms: the larger of the greatest sum of RSS over
the child and its descendants and the greatest high-water mark (VmHWM) of any one of them.
(`ru_maxrss` from `wait4` is no use here: a child started with vfork inherits the parent's
high-water mark at exec.)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import psutil

POLL_SECONDS = 0.05


@dataclass
class Measured:
    """One finished process."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system, the process and the children it waited for

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            tail = (self.stderr or self.stdout).strip().splitlines()[-15:]
            raise RuntimeError(f"{what} exited {self.returncode}:\n" + "\n".join(tail))
        return self


def run(cmd: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `cmd` to its end; its output is collected, not shown."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        done = threading.Event()
        peak = [0]
        poller = threading.Thread(target=_poll, args=(proc.pid, done, peak), daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds,
            peak[0],
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            usage.ru_utime + usage.ru_stime,
        )


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    return sum(_cpu(proc) for proc in tree)


def named_cpu(name: str) -> float:
    """CPU seconds used so far by every living process called `name` (`postgres`: the
    server and its backends)."""
    return sum(_cpu(proc) for proc in psutil.process_iter(["name"]) if proc.info["name"] == name)


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _poll(pid: int, done: threading.Event, peak: list[int]) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not done.is_set():
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                    peak[0] = max(peak[0], _high_water(proc.pid))
                except (psutil.Error, OSError):
                    pass
        except psutil.Error:
            return
        peak[0] = max(peak[0], total)
        done.wait(POLL_SECONDS)


def _high_water(pid: int) -> int:
    """The process's peak RSS so far (VmHWM of /proc/PID/status), in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Spread:
    """Median and range of several runs."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)
