"""Looking at processes through /proc (Linux), without extra packages."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


def _stat_fields(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of a process, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid ...": the name may hold spaces and parentheses, so split at the last ")".
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    state, parent = raw[raw.rindex(")") + 2:].split()[:2]
    return name, state, int(parent)


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie (a container's init may leave those unreaped)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[1] not in ("Z", "X")


def children_named(parent_pid: int, name: str) -> list[int]:
    """Running child processes of `parent_pid` whose command name is `name`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] == name and fields[2] == parent_pid and fields[1] not in ("Z", "X"):
                found.append(int(entry))
    return found


async def wait_for_child(parent_pid: int, name: str, *, timeout_s: float = 60.0) -> int:
    """The pid of the single child `name` of `parent_pid`, polling until it appears."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (children := children_named(parent_pid, name)):
        assert asyncio.get_running_loop().time() < deadline, f"no {name} child of {parent_pid} appeared"
        await asyncio.sleep(0.05)
    assert len(children) == 1, children
    return children[0]


async def gone_within(pid: int, *, timeout_s: float = 30.0) -> bool:
    """Poll until the process is gone; False if it is still running after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while is_running(pid):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def kill_if_running(pid: int, name: str) -> None:
    """Clean-up after a failed test: never leave a stray process on the machine (checked by name
    first, so a reused pid is left alone)."""
    fields = _stat_fields(pid)
    if fields is not None and fields[0] == name and fields[1] not in ("Z", "X"):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
