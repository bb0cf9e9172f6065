"""Running a grading process: a memory limit, a time limit, and nothing left running after it."""

import os
import signal
import subprocess
from pathlib import Path

from grading import GRADER


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _kill_tree(pid: int) -> None:
    """Kill a process and every process it started (a Jupyter kernel runs in its own session)."""
    tree, todo, found = _children(), [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    for process in found:
        try:
            os.kill(process, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Timeout(Exception):
    pass


def run_limited(
    command: list[str], *, python: str, timeout: float, memory: int, cwd: Path, env: dict, pass_fds=(),
    limit: float | None = None,
) -> subprocess.CompletedProcess:
    """Run `command` under a memory limit (bytes of address space per process, inherited by what it
    starts) and a timeout; on timeout kill it and all it started, then raise Timeout naming `limit`
    (the submission's whole limit, of which `timeout` is what is left; default `timeout`)."""
    limited = [python, "-I", str(GRADER), "_limit", str(memory), "--", *command]
    process = subprocess.Popen(
        limited,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        pass_fds=pass_fds,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        raise Timeout(f"over the {limit or timeout:g} s time limit") from None
    finally:
        if process.poll() is None:
            _kill_tree(process.pid)
        try:  # what it left running in its process group
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return subprocess.CompletedProcess(limited, process.returncode, out, err)


def exec_limited(memory: str, command: list[str]) -> None:
    import resource

    limit = int(memory)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(command[0], command)
