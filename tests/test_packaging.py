"""The wheel a learner gets: pip builds it from a clone of the repository (Colab's setup cell
installs from GitHub), so it must hold every module of the library, subpackages included.
An editable install reads the source folder and would hide a module the wheel lacks."""

import zipfile

import pytest
from wheel_checks import (
    imported_library_modules,
    library_wheel,
    modules_the_course_imports,
    source_modules,
    wheel_modules,
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return library_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_module_of_the_library(wheel):
    expected = source_modules()
    assert {"alexnet_book", "alexnet_book.claims", "alexnet_book.claims.runner"} <= expected
    missing = expected - wheel_modules(wheel)
    assert not missing, f"the wheel pip builds lacks {sorted(missing)}: see pyproject.toml's packages"


def test_the_wheel_holds_every_library_module_the_course_imports(wheel):
    imported = modules_the_course_imports()
    # the chapters import the claims lab (chapter 1 its runner), and the tools the library
    assert "alexnet_book.claims" in imported and "alexnet_book.claims.runner" in imported
    assert any(name.startswith("notebooks/") for name in imported["alexnet_book.claims"])
    missing = {m: sorted(files) for m, files in imported.items() if m not in wheel_modules(wheel)}
    assert not missing, f"imported by the course but not in the wheel: {missing}"


def test_the_wheel_holds_nothing_but_the_library(wheel):
    """The repository's tests, tools and notebooks stay out of a learner's site-packages."""
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.startswith("alexnet_book")} == set(), top


def test_the_import_finder_tells_modules_from_names():
    """The check above can fail: it finds submodules however they are imported, and does not
    take a function imported from a module for a module."""
    def is_module(name):
        return name in {"alexnet_book.claims", "alexnet_book.claims.runner", "alexnet_book.models"}

    source = ("import alexnet_book.claims.runner\nfrom alexnet_book import claims, profile\n"
              "from alexnet_book.models import alexnet\nfrom . import local\nimport numpy\n")
    assert imported_library_modules(source, is_module) == {
        "alexnet_book.claims.runner", "alexnet_book", "alexnet_book.claims", "alexnet_book.models"}


def test_a_wheel_without_a_subpackage_is_caught(tmp_path, wheel):
    """Built as before the fix (packages = ["alexnet_book"]), the wheel lacks the claims lab
    and the comparison names it."""
    stripped = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as full, zipfile.ZipFile(stripped, "w") as cut:
        for item in full.infolist():
            if not item.filename.startswith("alexnet_book/claims/"):
                cut.writestr(item, full.read(item))
    assert "alexnet_book.claims" in source_modules() - wheel_modules(stripped)
