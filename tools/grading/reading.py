"""A class's submissions: found in a folder, read (a notebook or the export cell's zip), matched to
their assignment, and dated."""

import json
import re
import time
import zipfile
from pathlib import Path

from grading import NotGraded


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, path) of every notebook or zip under `folder`."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            path.suffix not in (".ipynb", ".zip")
            or not path.is_file()
            or any(p.startswith(".") or p == "__MACOSX" for p in relative.parts)
        ):
            continue
        found.append((relative.parts[0] if len(relative.parts) > 1 else path.stem, path))
    return found


def read_submission(path: Path) -> tuple[dict, bytes | None, list[str]]:
    """(notebook, check log or None, other files in the zip); raises NotGraded with the reason."""
    log, others = None, []
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [
                    n
                    for n in archive.namelist()
                    if not n.endswith("/") and "__MACOSX" not in n and ".ipynb_checkpoints" not in n
                ]
                notebooks = [n for n in names if n.endswith(".ipynb")]
                if not notebooks:
                    raise NotGraded(
                        f"the zip holds no notebook (.ipynb), only: {', '.join(names) or 'nothing'}"
                    )
                if len(notebooks) > 1:
                    raise NotGraded(f"the zip holds {len(notebooks)} notebooks: {', '.join(notebooks)}")
                raw = archive.read(notebooks[0])
                if ".OTTER_LOG" in names:
                    log = archive.read(".OTTER_LOG")
                others = [n for n in names if n not in (notebooks[0], ".OTTER_LOG", "__zip_filename__")]
        else:
            raw = path.read_bytes()
    except zipfile.BadZipFile as error:
        raise NotGraded(f"not a readable zip file ({error})") from None
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotGraded("the notebook is not UTF-8 text (damaged?)") from None
    except json.JSONDecodeError as error:
        raise NotGraded(
            f"the notebook is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno}): truncated or damaged; ask for it again"
        ) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotGraded("not a Jupyter notebook (no cells)")
    return notebook, log, others


def _raw_text(path: Path) -> str:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return "\n".join(
                    archive.read(n).decode("utf-8", "replace")
                    for n in archive.namelist()
                    if n.endswith(".ipynb")
                )
        return path.read_bytes().decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile):
        return ""


def assignment_of(path: Path, known: list[str], notebook: dict | None = None) -> str:
    """The assignment a submission answers: otter's metadata, else the one name (of `known`) the
    damaged file's text or its path mentions; ValueError when none can be told."""
    if notebook is not None:
        name = (notebook.get("metadata") or {}).get("otter", {}).get("assignment_name")
        if name:
            return name
    mentioned = sorted(
        {k for k in known if re.search(rf'Notebook\(\\?"{re.escape(k)}\.ipynb', _raw_text(path))}
    )
    if len(mentioned) != 1:
        mentioned = [k for k in known if k in str(path)]
    if len(mentioned) != 1:
        raise ValueError("cannot tell which assignment it answers (no otter metadata)")
    return mentioned[0]


def recorded_time(path: Path) -> float:
    """When the submission was saved: the newest entry of a zip (the export cell writes it), or
    the file's modification time."""
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                stamps = [time.mktime((*info.date_time, 0, 0, -1)) for info in archive.infolist()]
            if stamps:
                return max(stamps)
        except (zipfile.BadZipFile, OverflowError, ValueError):
            pass
    return path.stat().st_mtime
