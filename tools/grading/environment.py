"""The clean grading environment: a virtual environment holding exactly what the autograder zips
declare, built once and reused, and the variables every grading process gets."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from grading import ROOT, NotGraded
from grading.autograder import declared

DEFAULT_ENVIRONMENT = ROOT / "_build" / "grade-env"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alexnet-book" / "wheels"
# Removed from the clean environment after it is built: rfc3987-syntax comes with jsonschema's
# optional format checks (through jupyter-events), which grading never uses, and compiles 38 Lark
# grammars each time jsonschema is imported, as `otter run` does in more than one process: one
# `otter run` took 17.4 s with it and 5.7 s without it (the same scores). jsonschema imports it
# only if present.
NOT_KEPT = ("rfc3987-syntax",)


def environment_variables(python: str, work: Path | None = None) -> dict[str, str]:
    """The variables a grading process gets: the environment's bin first on PATH, nothing of the
    caller's Python or Jupyter set-up, and (with `work`) private Jupyter, IPython and temporary
    folders inside `work`, removed with it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "JUPYTER", "IPYTHON"))
        and k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "MPLCONFIGDIR", "TMPDIR")
    }
    bin_dir = os.path.dirname(python)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1")
    if os.path.exists(os.path.join(bin_dir, "..", "pyvenv.cfg")):
        env["VIRTUAL_ENV"] = os.path.dirname(bin_dir)
    if work is not None:
        for variable, folder in (
            ("TMPDIR", "tmp"),
            ("JUPYTER_CONFIG_DIR", "jupyter/config"),
            ("JUPYTER_DATA_DIR", "jupyter/data"),
            ("JUPYTER_RUNTIME_DIR", "jupyter/run"),
            ("IPYTHONDIR", "ipython"),
            ("MPLCONFIGDIR", "mpl"),
        ):
            (work / folder).mkdir(parents=True, exist_ok=True)
            env[variable] = str(work / folder)
    return env


def uv_executable() -> str | None:
    """uv's executable where it is installed (the course's requirements.txt has it), else None
    (tests/test_colab.py builds its rehearsal kernel with it too)."""
    try:
        import uv
    except ImportError:
        return None
    return uv.find_uv_bin()


def ensure_environment(directory: Path, zips: dict[str, Path]) -> Path:
    """The clean environment's Python: a virtual environment in `directory` holding only what the
    autograder zips declare, built on first use (by uv where installed, from its cache when
    offline; else by pip, its downloads cached under WHEELS) and reused
    while the declarations are unchanged. Raises NotGraded with the reason when it cannot."""
    declarations = {(v, tuple(p)) for v, p in map(declared, zips.values())}
    if len(declarations) != 1:
        raise NotGraded(f"the autograders declare different environments: {sorted(declarations)}")
    ((version, packages),) = declarations
    declared_text = "\n".join([version, *packages])
    # The stamp names the removal too, so an environment built before it is rebuilt once.
    stamp_text = "\n".join([declared_text, *(f"without {name}" for name in NOT_KEPT)])
    directory = Path(os.path.abspath(directory))
    python, stamp = directory / "bin" / "python", directory / ".declared"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version and version != running:
        raise NotGraded(
            f"the autograders declare Python {version} but this is Python {running}: run "
            f"grade.py with Python {version} (for instance .venv/bin/python), or pass --python"
        )
    shutil.rmtree(directory, ignore_errors=True)
    print(f"building the clean grading environment in {directory} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=300)
    env = environment_variables(str(python))
    if uv_executable():  # uv: the same packages in a fraction of pip's time, its own cache, offline first
        install = [uv_executable(), "pip", "install", "--quiet", "--python", str(python), *packages]
        result = subprocess.run([*install, "--offline"], env=env, capture_output=True, text=True, timeout=1800)
        if result.returncode:
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=1800)
        if result.returncode:
            shutil.rmtree(directory, ignore_errors=True)
            raise NotGraded(f"could not build the grading environment (uv):\n{result.stderr[-2000:]}")
        _remove_not_kept([uv_executable(), "pip", "uninstall", "--quiet", "--python", str(python)], env)
        stamp.write_text(stamp_text)
        return python
    wheels = WHEELS / hashlib.sha256(declared_text.encode()).hexdigest()[:16]  # kept across that rebuild
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--quiet", "--disable-pip-version-check"]
    install = pip + ["install", "--no-compile", "--no-index", "--find-links", str(wheels), *packages]
    if not wheels.is_dir() or subprocess.run(install, env=env, capture_output=True).returncode:
        download = subprocess.run(
            pip + ["download", "--dest", str(wheels), *packages],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        result = (
            download
            if download.returncode
            else subprocess.run(install, env=env, capture_output=True, text=True, timeout=1800)
        )
        if result.returncode:
            shutil.rmtree(directory, ignore_errors=True)
            raise NotGraded(f"could not build the grading environment (pip):\n{result.stderr[-2000:]}")
    _remove_not_kept(pip + ["uninstall", "--yes"], env)
    stamp.write_text(stamp_text)
    return python


def _remove_not_kept(uninstall: list[str], env: dict) -> None:
    """Uninstall NOT_KEPT from a freshly built environment. Where one is not installed (its
    dependant not declared), nothing happens; a removal that fails only leaves grading slower."""
    subprocess.run([*uninstall, *NOT_KEPT], env=env, capture_output=True, timeout=300)
