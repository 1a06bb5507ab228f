"""CPU and memory of processes from /proc, so the benchmark measures the hub without asking it.

Reading the kernel's accounting needs no cooperation from the hub (no /metrics endpoint, no
instrumentation that would itself cost CPU) and works the same for the broker and PostgreSQL.
"""

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    """A small /proc file in one system call: the sampler reads a stat file per process and per hub
    thread every 20 ms, and `Path.read_text` costs it two and a half times as much."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def _stat_fields(pid: int, task: str = "") -> list[str]:
    """Fields after the command name; the name is in parentheses and may itself contain spaces."""
    text = _read(f"/proc/{pid}{task}/stat")
    return text[text.rindex(")") + 2 :].split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of proc(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        return _cpu(_stat_fields(pid))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0.0


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU of a process's live threads in seconds, summed by the name each has for the
    operating system (threads nobody named carry the program's name); empty if the process is gone."""
    out: dict[str, float] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for tid in tasks:
        try:
            name = _read(f"/proc/{pid}/task/{tid}/comm").rstrip("\n")
            cpu = _cpu(_stat_fields(pid, f"/task/{tid}"))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # the thread ended meanwhile
        out[name] = out.get(name, 0.0) + cpu
    return out


def parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def children(ppid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if parent_pid(int(entry.name)) == ppid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                continue
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the resident-set high-water mark since the process started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


@dataclass(frozen=True)
class MachineCpu:
    busy: int
    total: int

    def busy_pct_since(self, earlier: "MachineCpu") -> float:
        """Share of all cores' time spent busy between two samples (100 = every core saturated)."""
        total = self.total - earlier.total
        return 100.0 * (self.busy - earlier.busy) / total if total > 0 else 0.0


def host(cpuinfo: str | None = None) -> dict[str, object]:
    """The processor the figures were measured on. Machines of one kind differ: the same code drained
    at 39 µs a message on one 2-core host and at 15 µs on another, the peer alike, so a figure is read
    with the host it came from. `cpuinfo` is /proc/cpuinfo's text (read here when not given)."""
    text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    first: dict[str, str] = {}
    cores = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            continue
        if key == "processor":
            cores += 1
        first.setdefault(key, value.strip())
    mhz = first.get("cpu MHz")
    return {
        "cpu": first.get("model name", first.get("vendor_id", "unknown")),
        "family": int(first["cpu family"]) if first.get("cpu family", "").isdigit() else None,
        "model": int(first["model"]) if first.get("model", "").isdigit() else None,
        "mhz": round(float(mhz)) if mhz else None,
        "cores": cores,
    }


def machine_cpu() -> MachineCpu:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return MachineCpu(total - idle, total)
