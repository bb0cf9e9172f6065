"""Measured results stored in the repository (``benchmarks/results/``), readable wherever a
chapter runs: from the checkout when the library is installed from it, otherwise (Colab,
a downloaded notebook) from the repository on GitHub, with a clear message offline.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

RESULTS_PATH = "benchmarks/results"


class ResultsUnavailableError(RuntimeError):
    """Stored results are neither in a local checkout nor reachable online."""


def local_results_dir() -> Path | None:
    """``benchmarks/results`` of the checkout this library was installed from, if any."""
    folder = Path(__file__).resolve().parents[1] / RESULTS_PATH
    return folder if folder.is_dir() else None


def _parse(name: str, text: str) -> list[dict]:
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https only)
        return response.read()


def stored_results(repository: str, subfolder: str = "", timeout: float = 5.0) -> list[dict]:
    """Every stored result (one dict per JSON file, one per line of a ``.jsonl`` file) in
    ``benchmarks/results/<subfolder>``, each with its file name under ``"file"``.

    Args:
        repository: the course's GitHub URL (the notebooks' ``REPOSITORY``), used when
            there is no local checkout.
        subfolder: e.g. "" for the benchmarks, "claims" for the claims lab.
        timeout: seconds to wait for GitHub.

    Raises:
        ResultsUnavailableError: no checkout and GitHub unreachable (the message says
            where the files are).
    """
    local = local_results_dir()
    if local is not None:
        folder = local / subfolder
        files = sorted(folder.glob("*.json")) + sorted(folder.glob("*.jsonl"))
        return [{**row, "file": path.name} for path in files for row in _parse(path.name, path.read_text())]
    owner_name = repository.rstrip("/").removeprefix("https://github.com/")
    listing = f"https://api.github.com/repos/{owner_name}/contents/{RESULTS_PATH}/{subfolder}".rstrip("/")
    try:
        entries = json.loads(_fetch(listing + "?ref=main", timeout))
        rows = []
        for entry in sorted(entries, key=lambda e: e["name"]):
            if entry["type"] == "file" and entry["name"].endswith((".json", ".jsonl")):
                text = _fetch(entry["download_url"], timeout).decode()
                rows += [{**row, "file": entry["name"]} for row in _parse(entry["name"], text)]
        return rows
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        raise ResultsUnavailableError(
            f"stored results are not in a local checkout and {listing} could not be read "
            f"({error}); they are in the repository under {RESULTS_PATH}/{subfolder}") from error


def stored_files(repository: str, subfolder: str = "", suffixes: tuple[str, ...] = (".json", ".jsonl"),
                 timeout: float = 5.0) -> list[tuple[str, str]]:
    """The text of every stored file in ``benchmarks/results/<subfolder>`` ending in one of
    ``suffixes``, as ``(name, text)`` pairs sorted by name: from the checkout, else GitHub.
    Parsing is the caller's (the claims store names each malformed line).

    Raises:
        ResultsUnavailableError: no checkout and GitHub unreachable.
    """
    local = local_results_dir()
    if local is not None:
        folder = local / subfolder
        return [(path.name, path.read_text()) for path in sorted(folder.iterdir())
                if path.is_file() and path.name.endswith(suffixes)] if folder.is_dir() else []
    owner_name = repository.rstrip("/").removeprefix("https://github.com/")
    listing = f"https://api.github.com/repos/{owner_name}/contents/{RESULTS_PATH}/{subfolder}".rstrip("/")
    try:
        entries = json.loads(_fetch(listing + "?ref=main", timeout))
        return [(entry["name"], _fetch(entry["download_url"], timeout).decode())
                for entry in sorted(entries, key=lambda e: e["name"])
                if entry["type"] == "file" and entry["name"].endswith(suffixes)]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as error:
        raise ResultsUnavailableError(
            f"stored results are not in a local checkout and {listing} could not be read "
            f"({error}); they are in the repository under {RESULTS_PATH}/{subfolder}") from error
