"""The course as it is published: one version everywhere, its licences, its citation, its workflows.

The version is written in ``pyproject.toml`` (the library), in the site's footer
(``html.extra_footer`` of ``_config.yml``), in ``CITATION.cff``, in the landing page's BibTeX
and as the newest entry of ``CHANGELOG.md``; these tests keep them equal. ``CITATION.cff`` is
validated by cffconvert and the GitHub Actions workflows by actionlint, both from
``.venv-publish`` (``make publish-check`` installs them from ``requirements-publish.txt``),
else from the running Python's folder or ``PATH``; without them those tests are skipped,
except under ``make publish-check`` (``REQUIRE_PUBLISH_TOOLS=1``), where they fail.
"""

import datetime
import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from notebook_checks import NOTEBOOKS, ROOT, config, repository_url

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

WORKFLOWS = ROOT / ".github" / "workflows"
TEST_WORKFLOW = WORKFLOWS / "test.yml"
PAGES_WORKFLOW = WORKFLOWS / "pages.yml"
INTEGRATION_WORKFLOW = WORKFLOWS / "integration.yml"
PUBLISH_TOOLS = ROOT / ".venv-publish" / "bin"
# A version as the changelog and the footer write it: 0.1.0, 1.2.0rc1.
VERSION = r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?"
# A changelog entry: "## [0.1.0] - 2026-12-01".
ENTRY = re.compile(rf"^## \[({VERSION})\] - (\d{{4}}-\d{{2}}-\d{{2}})$", re.MULTILINE)
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
PAPER_TITLE = "ImageNet Classification with Deep Convolutional Neural Networks"


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _footer() -> str:
    return config()["html"]["extra_footer"]


def _citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _changelog_entries() -> list[tuple[str, str]]:
    """The changelog's versions and dates, newest first (an ``## Unreleased`` heading is not one)."""
    return ENTRY.findall((ROOT / "CHANGELOG.md").read_text())


def _intro() -> str:
    return (ROOT / "book" / "intro.md").read_text()


def _course_bibtex() -> str:
    """The landing page's BibTeX entry for the course."""
    blocks = re.findall(r"```bibtex\n(.*?)```", _intro(), re.DOTALL)
    course = [block for block in blocks if block.startswith("@software{")]
    assert len(course) == 1, "book/intro.md: one ```bibtex block with the course's @software entry"
    return course[0]


def _workflow(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _tool(name: str) -> str:
    """The path of a publishing tool, or a skip (a failure under ``make publish-check``)."""
    folders = [str(PUBLISH_TOOLS), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    path = shutil.which(name, path=os.pathsep.join(folders))
    if path is None:
        message = (f"{name} is not installed: `make publish-check` installs it into .venv-publish "
                   "(see requirements-publish.txt)")
        if os.environ.get("REQUIRE_PUBLISH_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


class _Tags(html.parser.HTMLParser):
    """The links of an HTML fragment, and whether its tags close in order."""

    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr"}

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), ""
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()
        if tag == "a":
            self.links.append((self._text.strip(), self._href or ""))

    def handle_data(self, data):
        self._text += data


# One version everywhere.

def test_the_changelog_names_the_project_version_newest_first():
    entries = _changelog_entries()
    assert entries, "CHANGELOG.md: no entry such as '## [0.1.0] - 2026-12-01'"
    (newest, date), *older = entries
    assert newest == _project_version(), (
        f"CHANGELOG.md's newest entry is {newest}, pyproject.toml's version {_project_version()}")
    datetime.date.fromisoformat(date)
    dates = [d for _, d in entries]
    assert dates == sorted(dates, reverse=True) and len({v for v, _ in entries}) == len(entries), (
        "CHANGELOG.md: one entry per version, newest first")


def test_the_site_footer_states_the_version():
    found = re.findall(rf"Version ({VERSION})", _footer())
    assert found == [_project_version()], (
        f"_config.yml's html.extra_footer gives version {found}, pyproject.toml {_project_version()}")


def test_citation_cff_states_the_version_and_its_date():
    citation = _citation()
    newest, date = _changelog_entries()[0]
    assert str(citation["version"]) == _project_version() == newest
    assert str(citation["date-released"]) == date, "CITATION.cff's date-released: the changelog's date"


def test_the_landing_page_cites_this_version_of_the_course():
    bibtex = _course_bibtex()
    assert re.search(r"^\s*version\s*=\s*\{(.*)\},?$", bibtex, re.MULTILINE).group(1) == _project_version()
    assert re.search(r"^\s*url\s*=\s*\{(.*)\},?$", bibtex, re.MULTILINE).group(1) == repository_url()
    year = re.search(r"^\s*year\s*=\s*\{(\d{4})\},?$", bibtex, re.MULTILINE).group(1)
    assert year == _changelog_entries()[0][1][:4]


def test_the_changelog_lists_every_chapter_and_assignment():
    """What a version contains: a chapter or assignment added later needs its line."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assignments = sorted((ROOT / "assignments").glob("*.ipynb"))
    missing = [str(p.relative_to(ROOT)) for p in [*NOTEBOOKS, *assignments]
               if str(p.relative_to(ROOT)) not in changelog]
    assert assignments and missing == [], f"CHANGELOG.md does not mention {missing}"


def test_the_stored_results_the_changelog_names_exist():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    named = re.findall(r"`([\w.-]+\.jsonl?)`", changelog)
    assert named, "CHANGELOG.md names no stored result"
    results = {p.name for p in (ROOT / "benchmarks" / "results").rglob("*.json*")}
    assert set(named) <= results, f"not in benchmarks/results/: {sorted(set(named) - results)}"


# The licences, and where they are stated.

def test_the_licence_files_hold_the_two_licences():
    mit = (ROOT / "LICENSE").read_text()
    assert mit.startswith("MIT License") and "Permission is hereby granted, free of charge" in mit
    assert f"Copyright (c) {config()['copyright']} {config()['author']}" in mit
    cc_by = (ROOT / "LICENSES" / "CC-BY-4.0.txt").read_text()
    assert "Creative Commons Attribution 4.0 International Public License" in cc_by
    assert "Section 8 -- Interpretation." in cc_by, "the legal code in full"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pyproject["license"] == "MIT"


def test_the_readme_and_the_landing_page_say_which_licence_covers_what():
    readme = (ROOT / "README.md").read_text()
    licence = readme.split("\n## Licence\n", 1)[1].split("\n## ", 1)[0]
    for words in ["[MIT licence](LICENSE)", "(LICENSES/CC-BY-4.0.txt)", "alexnet_book/", "figures",
                  "assignments"]:
        assert words in licence, f"README.md's Licence section does not say {words!r}"
    assert "\n## Citing\n" in readme and "CITATION.cff" in readme
    intro = _intro()
    licence = intro.split("\n## Licence\n", 1)[1].split("\n## ", 1)[0]
    for words in [CC_BY, f"{repository_url()}/blob/main/LICENSE", "figures", "assignments", "code"]:
        assert words in licence, f"book/intro.md's Licence section does not say {words!r}"
    cite = intro.split("\n## How to cite\n", 1)[1]
    assert "{cite:p}`krizhevsky2012imagenet`" in cite and "@inproceedings{krizhevsky2012imagenet" in cite


def test_the_site_footer_links_the_licences_changelog_and_citation():
    tags = _Tags()
    tags.feed(_footer())
    tags.close()
    assert tags.errors == [] and tags.open == [], f"footer HTML: {tags.errors}, unclosed {tags.open}"
    links = dict(tags.links)
    base = f"{repository_url()}/blob/main"
    assert links == {"changelog": f"{base}/CHANGELOG.md", "CC BY 4.0": CC_BY,
                     "MIT licence": f"{base}/LICENSE", "How to cite": f"{base}/CITATION.cff"}, links
    for name in ["CHANGELOG.md", "LICENSE", "CITATION.cff"]:
        assert (ROOT / name).is_file()


# The citation.

def test_citation_cff_names_the_course_its_authors_licences_and_the_paper():
    citation = _citation()
    assert citation["cff-version"] == "1.2.0"
    assert citation["title"] == config()["title"]
    assert [author.get("name") for author in citation["authors"]] == [config()["author"]]
    assert citation["repository-code"] == repository_url()
    assert citation["license"] == ["MIT", "CC-BY-4.0"]
    paper = next(ref for ref in citation["references"] if ref["title"] == PAPER_TITLE)
    assert [a["family-names"] for a in paper["authors"]] == ["Krizhevsky", "Sutskever", "Hinton"]
    assert paper["year"] == 2012
    bib = (ROOT / "book" / "references.bib").read_text()
    assert "{{ImageNet} Classification with Deep Convolutional Neural Networks}" in bib


def test_cffconvert_validates_citation_cff(tmp_path):
    cffconvert = _tool("cffconvert")
    result = _run(cffconvert, "--validate", "-i", "CITATION.cff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout + result.stderr
    # The validator can fail: the same file without its authors is invalid.
    broken = tmp_path / "CITATION.cff"
    citation = {key: value for key, value in _citation().items() if key != "authors"}
    broken.write_text(yaml.safe_dump(citation, sort_keys=False))
    assert _run(cffconvert, "--validate", "-i", str(broken)).returncode != 0


# The workflows.

def test_the_workflows_pass_actionlint(tmp_path):
    actionlint = _tool("actionlint")
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert workflows == [INTEGRATION_WORKFLOW, PAGES_WORKFLOW, TEST_WORKFLOW]
    result = _run(actionlint, "-no-color", *map(str, workflows))
    assert result.returncode == 0, result.stdout + result.stderr
    # actionlint can fail: a job that needs one that does not exist.
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(TEST_WORKFLOW.read_text().replace("  test:\n", "  test:\n    needs: build\n", 1))
    result = _run(actionlint, "-no-color", str(broken), cwd=tmp_path)
    assert result.returncode != 0 and "build" in result.stdout, result.stdout + result.stderr


def test_the_test_workflow_runs_make_test_on_every_push_and_pull_request():
    """One definition of what is tested: the Makefile's test target, as .ci/run runs it."""
    workflow = _workflow(TEST_WORKFLOW)
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert workflow["on"]["push"] is None and workflow["on"]["pull_request"] is None, "every branch"
    runs = [step["run"] for step in _steps(workflow) if "run" in step]
    # Colab's Python first, so that the Colab rehearsal runs there rather than skips
    assert [run for run in runs if "make" in run] == ["make colab-python", "make test"]
    job = workflow["jobs"]["test"]
    assert "ubuntu" in job["runs-on"] and job["container"]["image"].startswith("python:3.")


def test_ci_runs_the_default_tier_then_the_integration_tier():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-2:] == ["make test", "make test-integration"], commands


def test_the_integration_workflow_runs_the_integration_tier_nightly_and_on_pull_requests():
    """The tier that left make test still runs on GitHub: nightly, and on pull requests that
    touch the library, the chapters, the assignments, the tools or the tests."""
    workflow = _workflow(INTEGRATION_WORKFLOW)
    assert workflow["on"]["schedule"] and "workflow_dispatch" in workflow["on"]
    paths = workflow["on"]["pull_request"]["paths"]
    for covered in ("alexnet_book/**", "notebooks/**", "assignments/**", "tests/**", "Makefile"):
        assert covered in paths, covered
    runs = [step["run"] for step in _steps(workflow) if "run" in step]
    assert [run for run in runs if "make" in run] == ["make colab-python", "make test-integration"]


def test_the_pages_workflow_deploys_what_make_book_builds_from_main():
    workflow = _workflow(PAGES_WORKFLOW)
    assert workflow["on"]["push"]["branches"] == ["main"]
    steps = _steps(workflow)
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["make book", "make tag-library"]
    uses = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert uses == ["actions/checkout", "actions/configure-pages", "actions/upload-pages-artifact",
                    "actions/deploy-pages", "actions/checkout"]
    # the tag the notebooks' setup cell installs (tools/pin_library.py --tag pushes it)
    assert workflow["jobs"]["tag-library"]["permissions"] == {"contents": "write"}
    assert [s.get("run") for s in workflow["jobs"]["tag-library"]["steps"]][-1] == "make tag-library"
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"


def test_the_workflows_define_no_tests_of_their_own():
    """Neither workflow runs pytest, jupyter-book or pip itself: the make targets do."""
    for path in [TEST_WORKFLOW, PAGES_WORKFLOW, INTEGRATION_WORKFLOW]:
        text = path.read_text()
        for word in ["pytest", "jupyter-book", "pip install", "nbval", "ruff"]:
            assert word not in "\n".join(
                step.get("run", "") for step in _steps(_workflow(path))), f"{path.name} runs {word}"
        assert "apt-get" not in text, f"{path.name}: make installs the Debian packages itself"
