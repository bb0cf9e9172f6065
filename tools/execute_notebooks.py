"""Refresh the stored outputs of notebooks: clean kernel, top to bottom, quick profile.

Usage: python tools/execute_notebooks.py notebooks/*.ipynb  (``make execute`` sets the
environment: ALEXNET_PROFILE=quick, W&B offline, CPU only).
"""

import sys
import time
from pathlib import Path

import nbclient
import nbformat

KERNEL = "alexnet-book"


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
    for cell in notebook.cells:
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
