"""What a learner reads on the built website: no test machinery (issue 31).

Reads the pages that ``make book-strict`` writes to ``_build/html`` (the build
``tests/test_site.py`` browses), as files: no browser needed. On every page of the table of
contents: no nbval marker; in the code a notebook page shows (folded code included, since a
reader can unfold it), no name that the page never defines; names only the test profiles
need (``checks_learning``) and W&B's upload hint stay folded, except where chapter 0 teaches
tracking; and the "Key results" box at the top of each chapter holds three to five lines
that each start with a computed number.
"""

import re
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup
from test_site import HTML, NOTEBOOK_PAGES, PAGES

pytestmark = pytest.mark.site

# Names IPython defines in every kernel.
KERNEL_BUILTINS = ["display", "get_ipython"]


def _html(path: str) -> str:
    file = HTML / f"{path}.html"
    if not file.is_file():
        pytest.fail(f"no _build/html/{path}.html: run `make book-strict` first")
    return file.read_text(encoding="utf-8")


def _page(path: str) -> BeautifulSoup:
    return BeautifulSoup(_html(path), "html.parser")


def _article(path: str):
    return _page(path).select_one("article") or _page(path)


def _shown_code(path: str) -> str:
    """The code of every cell the page shows (folded or not), top to bottom."""
    cells = _article(path).select("div.cell_input pre")
    return "\n\n".join(cell.get_text() for cell in cells)


def _unfolded(path: str):
    """The page's article with folded content (<details>, myst-nb's hide-* tags) left out."""
    article = _article(path)
    for folded in article.select("details"):
        folded.decompose()
    return article


def undefined_names(code: str) -> list[str]:
    """Names the code reads but never defines (ruff's F821), as 'line: message'."""
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821", "--output-format",
         "concise", "--no-cache", "--stdin-filename", "page.py", "--config",
         f"builtins = {KERNEL_BUILTINS}", "-"],
        input=code, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    return [line.split(":", 1)[1] for line in done.stdout.splitlines() if "F821" in line]


def test_the_undefined_name_check_finds_undefined_names():
    assert undefined_names("x = 1\nprint(x, display)") == []
    found = undefined_names("print(REPOSITORY)")
    assert len(found) == 1 and "`REPOSITORY`" in found[0], found


@pytest.mark.parametrize("path", PAGES)
def test_no_nbval_marker_on_any_page(path):
    assert "NBVAL" not in _html(path), f"{path}: an nbval marker is printed on the page"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_the_code_on_a_page_defines_every_name_it_uses(path):
    code = _shown_code(path)
    assert "PROFILE = profile.current()" in code, f"{path}: the setup cell is not on the page"
    assert undefined_names(code) == [], f"{path}: names the page never defines {undefined_names(code)}"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_test_machinery_is_folded(path):
    page = _unfolded(path)
    assert "checks_learning" not in page.get_text(), f"{path}: a name of the test profiles shown unfolded"
    outputs = " ".join(output.get_text() for output in page.select("div.cell_output"))
    if not path.endswith("00_setup_and_tour"):  # chapter 0 teaches tracking
        assert "wandb sync" not in outputs, f"{path}: W&B's upload hint printed again, unfolded"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_key_results_box_holds_computed_lines(path):
    article = _article(path)
    boxes = [box for box in article.select("div.admonition")
             if box.select_one(".admonition-title").get_text(strip=True) == "Key results"]
    assert len(boxes) == 1, f"{path}: {len(boxes)} Key results boxes"
    first_cell = article.select_one("div.cell")
    assert first_cell is None or boxes[0] in first_cell.find_all_previous("div"), (
        f"{path}: the Key results box is not above the first code cell")
    items = [item.get_text(" ", strip=True) for item in boxes[0].select("li")]
    assert 3 <= len(items) <= 5, f"{path}: {items}"
    for item in items:
        assert re.match(r"[+-]?\d", item), f"{path}: {item!r} does not start with a number"
    assert boxes[0].select_one("a.reference.internal"), f"{path}: the box does not link to its cell"


#: Pages for learners: the chapters, the introduction and the setup page (the instructors'
#: guide and the assignments' pages speak to instructors, CONTRIBUTING to maintainers).
LEARNER_PAGES = ["book/intro", "book/setup", *NOTEBOOK_PAGES]
#: Words of the course's maintenance, not of what it teaches: continuous integration, the
#: issue tracker, the smoke profile, the maintainers' scripts and test tools.
MAINTAINER_WORDS = re.compile(r"\bCI\b|\bissues? \d+|\bsmoke\b|\btools/|\bmake test\b|\bnbval\b|\bpytest\b|"
                              r"gpu_check", re.IGNORECASE)


def maintainer_words(text: str) -> list[str]:
    return sorted({match.group(0) for match in MAINTAINER_WORDS.finditer(text)})


def test_the_maintainer_word_check_can_fail():
    assert maintainer_words("compared on every CI run; see issue 18 and tools/gpu_check.sh") == \
        ["CI", "gpu_check", "issue 18", "tools/"]
    assert maintainer_words("CIFAR-10, a smoked salmon, the issue of scale") == []


@pytest.mark.parametrize("path", LEARNER_PAGES)
def test_a_learner_page_speaks_of_the_course_not_of_its_maintenance(path):
    """What a learner sees without unfolding anything names no CI, issue, smoke profile or
    maintainers' script (those live in CONTRIBUTING.md and the instructors' guide)."""
    found = maintainer_words(_unfolded(path).get_text(" "))
    assert not found, f"{path}: {found}"


# --- one number per fact (issue 40, item 7) ---------------------------------------------------
# A fact the course states on several pages: where each page states it (a pattern whose group is
# the number, on the page's text as a reader sees it) and, where the library holds it, its value.
# A page that stops stating a fact fails too, so a pattern cannot silently go stale.
def _lenet_ratio() -> float:
    from alexnet_book import models

    return models.alexnet(towers=2).count_params() / models.lenet5().count_params()


def _two_tower_parameters() -> float:
    from alexnet_book import models

    return models.alexnet(towers=2).count_params()


def _full_training_images() -> float:
    from alexnet_book import profile

    return profile.get("full").train_subset


FACTS = {
    "AlexNet's (two towers) parameters over LeNet-5's": (_lenet_ratio, "{:,.0f}", {
        "notebooks/01_history": [r"AlexNet has ([\d,]+) times LeNet-5's parameters",
                                 r"([\d,]+) times LeNet-5's parameters in AlexNet"],
        "notebooks/02_layer_by_layer": [r"AlexNet \(two towers\) / LeNet-5: ([\d,]+)x the parameters"]}),
    "the full profile's training images": (_full_training_images, "{:,.0f}", {
        "notebooks/00_setup_and_tour": [r"The full profile uses 227x227 images, ([\d,]+) training images"],
        "book/setup": [r"227x227 inputs, ([\d,]+) training images"]}),
    "the two-tower AlexNet's parameters": (_two_tower_parameters, "{:,.0f}", {
        "notebooks/01_history": [r"2 towers\)\s+227x227x3\s+5\s+3\s+([\d,]+)"],
        "notebooks/02_layer_by_layer": [r"parameters: ([\d,]+) \(two towers\)",
                                        r"\*?\*?([\d,]+)\*?\*? parameters in the paper's two"]}),
}


def stated(text: str, pattern: str) -> list[str]:
    """Every number a page states for a fact's pattern, as written (commas kept)."""
    return re.findall(pattern, " ".join(text.split()))


def disagreements(fact: str, texts: dict[str, str]) -> list[str]:
    """Where the pages' statements of ``fact`` differ from the library's value (or are missing)."""
    truth, form, places = FACTS[fact]
    expected = form.format(truth())
    out = []
    for page_path, patterns in places.items():
        for pattern in patterns:
            found = stated(texts[page_path], pattern)
            if not found:
                out.append(f"{page_path}: no statement matching {pattern!r}")
            out += [f"{page_path}: {value} where the library gives {expected}"
                    for value in found if value != expected]
    return out


def test_the_one_number_check_can_fail():
    fact = "AlexNet's (two towers) parameters over LeNet-5's"
    right = {"notebooks/01_history": "AlexNet has 988 times LeNet-5's parameters. 988 times LeNet-5's "
                                     "parameters in AlexNet",
             "notebooks/02_layer_by_layer": "AlexNet (two towers) / LeNet-5: 988x the parameters"}
    assert disagreements(fact, right) == []
    wrong = {**right, "notebooks/02_layer_by_layer": "AlexNet (two towers) / LeNet-5: 1,011x the parameters"}
    assert disagreements(fact, wrong) == ["notebooks/02_layer_by_layer: 1,011 where the library gives 988"]
    assert disagreements(fact, {**right, "notebooks/01_history": ""})  # a page that stopped saying it


@pytest.mark.parametrize("fact", FACTS)
def test_a_fact_stated_on_several_pages_has_one_number(fact):
    texts = {page_path: _article(page_path).get_text(" ") for page_path in FACTS[fact][2]}
    assert disagreements(fact, texts) == []


def test_a_colour_named_in_a_caption_is_the_colour_drawn():
    """A figure's caption or title that names a colour of the course's palette uses that colour."""
    import json

    from test_site import NOTEBOOKS

    from alexnet_book import plots

    words = {"red-orange": plots.PALETTE[3], "orange": plots.PALETTE[1], "blue": plots.PALETTE[0],
             "green": plots.PALETTE[2]}
    checked = 0
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            code = "".join(cell["source"])
            caption = cell["metadata"].get("mystnb", {}).get("figure", {}).get("caption", "")
            for text in (caption, *re.findall(r"suptitle\((.*?)\)", code, re.S)):
                for word in re.findall(r"\bin (red-orange|orange|blue|green)\b", text):
                    index = plots.PALETTE.index(words[word])
                    assert f"PALETTE[{index}]" in code or words[word] in code, (path.name, word, text[:80])
                    checked += 1
    assert checked, "no caption names a colour: the check has nothing to read"


# --- reading time (issue 40, item 8) -------------------------------------------------------------
#: The quick path through a chapter: what its page shows unfolded (prose, code, printed outputs,
#: tables), without its exercises, read at 200 words a minute (figures not counted). Code is
#: counted like prose, word by word as the page splits it.
WORDS_PER_MINUTE = 200
MOST_MINUTES = 30


def reading_minutes(article) -> float:
    """Minutes to read a page's unfolded article on the quick path: every word but the
    exercises' (section ``#exercises``), at :data:`WORDS_PER_MINUTE`. Code counts as written
    (its highlighting splits it into spans, which must not split its words)."""
    article = BeautifulSoup(str(article), "html.parser")  # a copy: the page is not changed
    for skipped in article.select("section#exercises"):
        skipped.decompose()
    code = 0
    for block in article.select(".cell_input"):
        code += len(block.get_text().split())
        block.decompose()
    return (code + len(article.get_text(" ").split())) / WORDS_PER_MINUTE


def test_reading_minutes_leaves_the_exercises_out():
    page = BeautifulSoup("<article><p>" + "word " * 300 + "</p><div class='cell_input'>" + "x " * 99
                         + "<span>keras</span><span>.</span><span>ops</span></div><section id='exercises'>"
                         + "y " * 500 + "</section></article>", "html.parser")
    assert reading_minutes(page.article) == pytest.approx(2.0)  # 300 + 99 + "keras.ops"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_a_chapter_reads_in_half_an_hour_at_the_quick_path(path):
    minutes = reading_minutes(_unfolded(path))
    print(f"{path}: {minutes:.0f} minutes to read")
    assert minutes <= MOST_MINUTES, f"{path}: {minutes:.0f} minutes on the quick path (most: {MOST_MINUTES})"
