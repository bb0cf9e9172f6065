"""Author-year labels in the bibliography, so that the list reads like the citations.

The pages cite with ``{cite:p}``, which sphinxcontrib-bibtex's ``author_year`` reference
style renders as [Krizhevsky et al., 2012]. The bibliography styles that pybtex ships
label their entries otherwise (``alpha``: [KSH12], ``plain``: [1]), and only a labelled
list can be the target of a citation. This extension registers the pybtex style
``authoryear``: pybtex's ``plain`` style (sorted by author, year, title) whose labels are
built as the citations are: one author (Lowe, 1999), two (Zeiler and Fergus, 2014),
three or more (Krizhevsky et al., 2012); labels that collide get a, b, ... appended.
"""

from collections import Counter
from string import ascii_lowercase

import pybtex.plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

NAME = "authoryear"


def _plain(latex: str) -> str:
    return Text.from_latex(latex).render_as("text")


def _authors(entry) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    if not persons:
        return _plain(entry.fields.get("title", entry.key))
    names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels such as "Krizhevsky et al., 2012", as the author_year citations read."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                yield label + ascii_lowercase[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style with author-year labels."""

    default_label_style = NAME


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.labels", NAME, AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
