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
    if isinstance(lines, str):
        raise ValueError(f"key results must be non-empty lines of text, got one string {lines!r}")
    lines = list(lines)  # a generator is read once
    if not lines or any(not isinstance(line, str) or not line.strip() for line in lines):
        raise ValueError(f"key results must be non-empty lines of text, got {lines!r}")
    print("\n".join(line.replace("**", "") for line in lines))
    glue(name, "\n".join(f"- {line}" for line in lines))


def glue(name: str, markdown: str) -> None:
    """Glue ``markdown`` under ``name`` for the page's prose (```{glue:md}`name` ```), so a
    number the text states is the number the cell computed. Shows nothing in the cell's
    output on the site (MyST-NB hides the record) and nothing in Colab or Jupyter.

    Raises:
        ValueError: ``name`` is not an identifier, or ``markdown`` is not a non-empty string.
    """
    # IPython is the chapters' extra (pyproject's `chapters`), not a dependency of the library
    from IPython.display import display

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a glue name must be an identifier, got {name!r}")
    if not isinstance(markdown, str) or not markdown.strip():
        raise ValueError(f"glue {name!r} needs non-empty text, got {markdown!r}")
    display({GLUE_PREFIX + "text/markdown": markdown}, raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
