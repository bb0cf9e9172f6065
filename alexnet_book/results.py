"""Measured results stored in the repository (``benchmarks/results/``), readable wherever a
chapter runs: from the checkout when the library is installed from it, otherwise (Colab,
a downloaded notebook) from the repository on GitHub, with a clear message offline.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

RESULTS_PATH = "benchmarks/results"
#: GitHub's API, which lists the stored files when there is no checkout.
GITHUB_API = "https://api.github.com"


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
    """The body at ``url``, complete within ``timeout`` seconds in all: connecting, the
    headers and the body together (urllib's own timeout bounds each read, so a server that
    sends a byte every few seconds would hold it without limit).

    Raises:
        TimeoutError: no complete answer within ``timeout`` seconds.
        OSError, ValueError: the request failed (urllib's errors).
    """
    outcome: list = []
    stop = threading.Event()

    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                chunks = []
                while not stop.is_set():  # read1: returns what arrived, so the stop is seen
                    chunk = response.read1(1 << 16)
                    if not chunk:
                        outcome.append(b"".join(chunks))
                        return
                    chunks.append(chunk)
        except Exception as error:  # handed to the caller's thread
            outcome.append(error)

    thread = threading.Thread(target=get, name="stored-results", daemon=True)
    thread.start()
    thread.join(max(timeout, 0.0))
    stop.set()  # a late reader stops at its next chunk
    if not outcome:
        raise TimeoutError(f"{url} sent no complete answer within {round(timeout, 1):g} s")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def stored_results(repository: str, subfolder: str = "", timeout: float = 5.0) -> list[dict]:
    """Every stored result (one dict per JSON file, one per line of a ``.jsonl`` file) in
    ``benchmarks/results/<subfolder>``, each with its file name under ``"file"``.

    Args:
        repository: the course's GitHub URL (the notebooks' ``REPOSITORY``), used when
            there is no local checkout.
        subfolder: e.g. "" for the benchmarks, "claims" for the claims lab.
        timeout: seconds to wait for GitHub, for all its answers together.

    Raises:
        ResultsUnavailableError: no checkout and GitHub unreachable or not done within
            ``timeout`` seconds (the message says where the files are).
    """
    files = stored_files(repository, subfolder, (".json", ".jsonl"), timeout)
    files = sorted(files, key=lambda f: (f[0].endswith(".jsonl"), f[0]))  # JSON files first
    return [{**row, "file": name} for name, text in files for row in _parse(name, text)]


def stored_files(repository: str, subfolder: str = "", suffixes: tuple[str, ...] = (".json", ".jsonl"),
                 timeout: float = 5.0) -> list[tuple[str, str]]:
    """The text of every stored file in ``benchmarks/results/<subfolder>`` ending in one of
    ``suffixes``, as ``(name, text)`` pairs sorted by name: from the checkout, else GitHub
    (``timeout`` seconds for all its answers together). Parsing is the caller's (the claims
    store names each malformed line).

    Raises:
        ResultsUnavailableError: no checkout and GitHub unreachable or not done within
            ``timeout`` seconds (the message says where the files are).
    """
    local = local_results_dir()
    if local is not None:
        folder = local / subfolder
        return [(path.name, path.read_text()) for path in sorted(folder.iterdir())
                if path.is_file() and path.name.endswith(suffixes)] if folder.is_dir() else []
    owner_name = repository.rstrip("/").removeprefix("https://github.com/")
    listing = f"{GITHUB_API}/repos/{owner_name}/contents/{RESULTS_PATH}/{subfolder}".rstrip("/")
    deadline = time.monotonic() + timeout

    def left() -> float:
        seconds = deadline - time.monotonic()
        if seconds <= 0:
            raise TimeoutError(f"GitHub's answers took more than {timeout:g} s in all")
        return seconds

    try:
        entries = json.loads(_fetch(listing + "?ref=main", left()))
        return [(entry["name"], _fetch(entry["download_url"], left()).decode())
                for entry in sorted(entries, key=lambda e: e["name"])
                if entry["type"] == "file" and entry["name"].endswith(suffixes)]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as error:
        raise ResultsUnavailableError(
            f"stored results are not in a local checkout and {listing} could not be read "
            f"({error}); they are in the repository under {RESULTS_PATH}/{subfolder}") from error
