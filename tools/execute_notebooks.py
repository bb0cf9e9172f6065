"""Refresh the stored outputs of notebooks: clean kernel, top to bottom, quick profile.

Usage: python tools/execute_notebooks.py notebooks/*.ipynb  (``make execute`` sets the
environment: ALEXNET_PROFILE=quick, W&B offline, CPU only).
"""

import datetime
import sys
import time
from pathlib import Path

import nbclient
import nbformat

KERNEL = "alexnet-book"
SLOW_CELL_SECONDS = 5.0  # cells slower than this are listed, so regressions show


def cell_seconds(cell) -> float:
    """Wall time of one executed cell, from the timing nbclient records."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=1800,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    seconds = time.perf_counter() - start
    # Readers and Colab open the notebook with the standard Python kernel.
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell_seconds(cell) > SLOW_CELL_SECONDS:
            first_line = cell.source.splitlines()[0] if cell.source else ""
            print(f"  {cell_seconds(cell):6.1f} s  cell {index}: {first_line[:70]}")
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                print(f"  warning: {path.name} writes to stderr: {output['text'][:200]!r}")
    nbformat.write(notebook, path)
    return seconds


def main(paths: list[str]) -> None:
    total = 0.0
    for name in paths:
        seconds = execute(Path(name))
        total += seconds
        print(f"{seconds:7.1f} s  {name}", flush=True)
    print(f"{total:7.1f} s  total")


if __name__ == "__main__":
    main(sys.argv[1:])
