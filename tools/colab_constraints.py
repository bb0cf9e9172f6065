"""Google Colab's published package list, kept whole in tools/colab-constraints.txt.

Colab publishes what its runtimes ship in the public repository googlecolab/backend-info
(``pip-freeze.txt``, and the Python version in ``os-info.txt``). The notebooks' setup cell
must install the course's library without changing any of those packages;
tests/test_colab.py resolves that install against this list.

    python tools/colab_constraints.py            # refresh from GitHub (needs the network)
    python tools/colab_constraints.py --check    # print what the stored list says

The stored file starts with a header (source, commit, date, Python version), then the
published ``pip-freeze.txt`` verbatim.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path

FILE = Path(__file__).with_name("colab-constraints.txt")
REPOSITORY = "googlecolab/backend-info"
RAW = f"https://raw.githubusercontent.com/{REPOSITORY}"
API = f"https://api.github.com/repos/{REPOSITORY}/commits?path=pip-freeze.txt&per_page=1"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*$")


def _get(url: str, timeout: float = 20.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https only)
        return response.read()


def header(commit: str, date: str, python: str) -> str:
    return (f"# Google Colab's published package list: {REPOSITORY}, pip-freeze.txt at commit\n"
            f"# {commit} ({date}), Python {python}.\n"
            "# Refresh: python tools/colab_constraints.py (tests/test_colab.py resolves the notebooks'\n"
            "# setup cell against it). Below: the published file, verbatim.\n")


def refresh(path: Path = FILE) -> dict:
    """Download the newest list and write it with its header.

    Raises:
        OSError: GitHub could not be reached (the stored list is left as it is).
    """
    commit = json.loads(_get(API))[0]
    sha, date = commit["sha"], commit["commit"]["committer"]["date"][:10]
    freeze = _get(f"{RAW}/{sha}/pip-freeze.txt").decode()
    os_info = _get(f"{RAW}/{sha}/os-info.txt").decode()
    python = re.search(r"Python (\d+\.\d+\.\d+)", os_info).group(1)
    path.write_text(header(sha, date, python) + freeze)
    return read(path)


def read(path: Path = FILE) -> dict:
    """The stored list: ``commit``, ``date``, ``python`` (``"3.13"``), ``python_full`` and
    ``pins`` ({lower-case name: version}); lines that are not ``name==version`` (URLs, a
    local sdist) are listed under ``other``.

    Raises:
        ValueError: the file has no header (refresh it).
    """
    text = path.read_text()
    found = re.search(r"pip-freeze\.txt at commit\n# ([0-9a-f]{40}) \((\d{4}-\d\d-\d\d)\), "
                      r"Python (\d+\.\d+)\.(\d+)", text)
    if not found:
        raise ValueError(f"{path} has no header naming the commit, date and Python; run "
                         "python tools/colab_constraints.py")
    pins, other = {}, []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
        else:
            other.append(line)
    commit, date, python, micro = found.groups()
    return {"commit": commit, "date": date, "python": python, "python_full": f"{python}.{micro}",
            "pins": pins, "other": other}


def pip_constraints(path: Path = FILE) -> str:
    """The list as a pip constraints file (pip takes only ``name==version`` lines there)."""
    return "".join(f"{name}=={version}\n" for name, version in read(path)["pins"].items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the stored list's header and key pins")
    parser.add_argument("--python", action="store_true", help="print Colab's Python version (3.13)")
    args = parser.parse_args(argv)
    if args.python:
        print(read()["python"])
        return 0
    try:
        info = read() if args.check else refresh()
    except OSError as error:
        print(f"could not reach GitHub ({error}); {FILE.name} is unchanged", file=sys.stderr)
        return 1
    keys = ("tensorflow", "keras", "numpy", "protobuf", "psutil", "pandas", "jax", "wandb")
    print(f"Colab list of {info['date']} (commit {info['commit'][:12]}), Python {info['python_full']}: "
          f"{len(info['pins'])} pins; " + ", ".join(f"{k} {info['pins'].get(k, '-')}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
