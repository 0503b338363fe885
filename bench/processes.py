"""CPU of other processes and of the whole machine, read from /proc (Linux): what the
benchmarks that start servers report beside their own process's CPU."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(process: Path) -> tuple[str, list[str]]:
    """A process's name and the fields of `/proc/<pid>/stat` after it (OSError once the
    process is gone)."""
    stat = process.joinpath("stat").read_text()
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()


def _seconds(fields: list[str], first: int) -> float:
    """Two adjacent tick counts of `/proc/<pid>/stat` (user then system), in seconds."""
    return (int(fields[first]) + int(fields[first + 1])) / TICK


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        _, fields = _stat(Path(f"/proc/{pid}"))
    except OSError:
        return 0.0
    return _seconds(fields, 11)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


def postgres_cpu_s() -> float:
    """CPU seconds so far of the PostgreSQL server running on this machine (0 without one):
    its live processes' own, and what its postmaster has reaped from those that exited (a
    backend ends with its connection). Every database's work counts, the server's
    background writers' and autovacuum's too: on a machine of its own, the cost of what a
    benchmark asked of it."""
    processes: dict[int, tuple[int, float, float]] = {}  # pid: (parent, own, reaped)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, fields = _stat(entry)
        except OSError:
            continue
        if name in ("postgres", "postmaster"):
            # utime, stime, then the children's cutime, cstime.
            processes[int(entry.name)] = (
                int(fields[1]),
                _seconds(fields, 11),
                _seconds(fields, 13),
            )
    return sum(
        own + (reaped if parent not in processes else 0.0)  # the postmaster's reaped children
        for parent, own, reaped in processes.values()
    )
