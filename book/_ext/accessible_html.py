"""HTML that assistive technology reads correctly, where docutils and MyST-NB write otherwise.

tests/test_site.py runs axe-core on every page; this extension fixes what it found in the
HTML that the build writes (the theme's header buttons are fixed in book/_templates/):

- The bibliography: docutils writes ``<div role="list">`` around entries whose role is
  ``doc-biblioentry``, a role DPUB-ARIA 1.1 deprecates and that a list may not own, so a
  screen reader met a list without items (axe: aria-required-children, critical;
  aria-deprecated-role and aria-allowed-role, minor). Each entry is a ``listitem`` here,
  the role DPUB-ARIA 1.1 names in place of ``doc-biblioentry``.
- Hidden cell outputs: MyST-NB labels their ``<summary>`` "Toggle hidden content", a name
  that differs from the words shown ("Show code cell output"), so speech-input users
  cannot say what they see (axe: label-content-name-mismatch, serious). The summary is
  named by its visible text here.
- pandas' tables: the corner and index-name rows have empty header cells ``<th></th>``
  (axe: empty-table-header, minor). An empty cell heads nothing, so it is written as a
  data cell ``<td>``; the stored notebook outputs are left as pandas wrote them.
"""

import re
from html import escape

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

_EMPTY_HEADER = re.compile(r"<th((?:\s+[\w-]+=\"[^\"]*\")*)\s*>(\s*(?:&nbsp;)?\s*)</th>")


def empty_headers_as_cells(html: str) -> str:
    """``html`` with every empty table header cell (``<th></th>``, pandas'
    ``<th class="blank level0" >&nbsp;</th>``) written as a data cell, its attributes kept."""
    return _EMPTY_HEADER.sub(r"<td\1>\2</td>", html)


def visit_citation(self, node):
    """docutils' HTML5 citation, as a list item instead of a ``doc-biblioentry``."""
    if not isinstance(node.previous_sibling(), type(node)):
        self.body.append('<div role="list" class="citation-list">\n')
    self.body.append(self.starttag(node, "div", classes=[node.tagname], role="listitem"))


def depart_citation(self, node):
    self.body.append("</div>\n")
    if not isinstance(node.next_node(descend=False, siblings=True), type(node)):
        self.body.append("</div>\n")


def visit_hidden_cell(self, node):
    """MyST-NB's hidden cell part, its ``<summary>`` named by the words it shows."""
    classes = " ".join(node["classes"])
    self.body.append(f'<details class="admonition hide {classes}">\n')
    self.body.append("<summary>\n")
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n')
    self.body.append("</summary>\n")


class EmptyTableHeaders(SphinxPostTransform):
    """Empty header cells in notebooks' HTML outputs (pandas' tables) become data cells."""

    default_priority = 400
    formats = ("html",)

    def run(self, **kwargs):
        for raw in list(self.document.findall(nodes.raw)):
            if "html" not in raw.get("format", "").split() or "<th" not in raw.astext():
                continue
            fixed = empty_headers_as_cells(raw.astext())
            if fixed != raw.astext():
                raw.replace_self(nodes.raw("", fixed, **raw.attributes))


def setup(app):
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput

    app.setup_extension("myst_nb")
    app.add_node(nodes.citation, override=True, html=(visit_citation, depart_citation))
    app.add_node(HideCodeCellNode, override=True, html=(visit_hidden_cell, depart_HideCellInput))
    app.add_post_transform(EmptyTableHeaders)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
