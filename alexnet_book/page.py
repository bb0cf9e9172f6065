"""What a chapter shows on its rendered page beyond plain outputs."""

from __future__ import annotations

from collections.abc import Sequence

#: MyST-NB's glue reads outputs of this MIME prefix (papermill's record format); it is
#: written out here because Colab has no myst_nb to import ``glue`` from.
GLUE_PREFIX = "application/papermill.record/"


def show_key_results(lines: Sequence[str], name: str = "key_results") -> None:
    """Print a chapter's key results and glue them under ``name`` for the "Key results" box
    at the top of its page (```` ```{glue:md} key_results ````).

    Each line is Markdown, its number in bold; the printed copy drops the bold marks, so
    the cell's output reads the same in Colab, in Jupyter and on the site.

    Raises:
        ValueError: no lines, one string instead of lines, or a line that is not a
            non-empty string.
    """
    # IPython is the chapters' extra (pyproject's `chapters`), not a dependency of the library
    from IPython.display import display

    if isinstance(lines, str):
        raise ValueError(f"key results must be non-empty lines of text, got one string {lines!r}")
    lines = list(lines)  # a generator is read once
    if not lines or any(not isinstance(line, str) or not line.strip() for line in lines):
        raise ValueError(f"key results must be non-empty lines of text, got {lines!r}")
    print("\n".join(line.replace("**", "") for line in lines))
    display({GLUE_PREFIX + "text/markdown": "\n".join(f"- {line}" for line in lines)}, raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
