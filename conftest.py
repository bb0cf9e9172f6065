"""Root pytest configuration: how the work is shared between pytest-xdist workers, and each
notebook's wall time under nbval."""

import collections

# The longest work units first (longest-processing-time scheduling), so that the workers
# finish together instead of one running the last long chapter while the other idles: rough
# worker seconds on the two-core machine (a fresh clone's `make test` and `make
# test-integration`, 2026-12-07, AMD EPYC with AVX-512; a test file counts with its tests of
# the tier that takes longest). Only their order matters; a stale
# number costs some idle minutes, never a failure. Units not listed follow in collection order.
HEAVIEST_SECONDS = {
    # make test
    "notebooks/04_augmentation.ipynb": 225,
    "notebooks/03_lrn_vs_batchnorm.ipynb": 212,
    "notebooks/07_claims.ipynb": 135,
    "tests/test_full_shapes.py": 100,
    "notebooks/06_full_training_run.ipynb": 62,
    "notebooks/05_gpu_speed.ipynb": 52,
    "notebooks/01_history.ipynb": 33,
    # make test-integration
    "tests/test_colab.py": 275,  # the rehearsal of every chapter, and the two dry runs
    "tests/test_assignments.py": 200,  # builds and grades a class (session fixtures)
    "smoke:05_gpu_speed.ipynb": 95,
    "smoke:03_lrn_vs_batchnorm.ipynb": 66,
    "smoke:07_claims.ipynb": 61,
    "tests/test_benchmarks.py": 90,
    "tests/test_claims.py": 60,
    "smoke:06_full_training_run.ipynb": 40,
    "smoke:04_augmentation.ipynb": 32,
}


def work_unit(nodeid: str) -> str:
    """What one worker runs whole: a test file (its module and session fixtures are built
    once) or a notebook (nbval's cells share a kernel); each chapter's smoke run alone."""
    path = nodeid.split("::")[0]
    if path == "tests/test_smoke.py":
        return "smoke:" + nodeid.split("[")[-1].rstrip("]")
    return path


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with :func:`work_unit`'s units, in the order collected."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the longest-first order of the collection
    return WorkUnitScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # on a pytest-xdist worker: longest units first
        items.sort(key=lambda item: -HEAVIEST_SECONDS.get(work_unit(item.nodeid), 0))  # stable


_notebook_seconds: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook wall times")
    for path, seconds in sorted(_notebook_seconds.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
    terminalreporter.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  total")
