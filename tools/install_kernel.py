"""Install the Jupyter kernel the course's notebooks are executed and tested with.

It is the virtual environment's Python with ``capture_fd_output`` off: TensorFlow's C++
log lines (written straight to file descriptor 2, with timestamps and process ids) then
stay in the terminal instead of landing in cell outputs, where nbval would compare them
and the website would show them.
"""

import json
import subprocess
import sys
from pathlib import Path

NAME = "alexnet-book"


def main() -> None:
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", NAME,
         "--display-name", "Python (alexnet-book)"],
        check=True, stdout=subprocess.DEVNULL,
    )
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / NAME / "kernel.json"
    kernel = json.loads(spec.read_text())
    flag = "--IPKernelApp.capture_fd_output=False"
    if flag not in kernel["argv"]:
        kernel["argv"].append(flag)
    kernel.setdefault("env", {}).update({"TF_CPP_MIN_LOG_LEVEL": "2", "WANDB_SILENT": "true"})
    spec.write_text(json.dumps(kernel, indent=1))
    print(f"Jupyter kernel '{NAME}' installed at {spec.parent}")


if __name__ == "__main__":
    main()
