"""The notebook contract (CONTRIBUTING.md): checks on the stored notebooks themselves."""

import ast
import re
import sys
from pathlib import Path

import pytest
from notebook_checks import NOTEBOOKS, ROOT, code_cells, read, repository_url, toc_files

IDS = [path.name for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in listed, f"{path.name} is missing from _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_sets_up_colab_from_the_configured_repository(path):
    first = code_cells(read(path))[0].source
    assert '"google.colab" in sys.modules' in first
    urls = re.findall(r'REPOSITORY = "([^"]+)"', first)
    assert urls == [repository_url()], f"{path.name}: {urls} != _config.yml's repository.url"
    code = "\n".join(line.split("#")[0] for line in first.splitlines()).lower()
    assert "tensorflow" not in code, "the Colab cell must leave Colab's TensorFlow alone"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_are_stored_in_order(path):
    counts = []
    for index, cell in enumerate(code_cells(read(path))):
        assert cell.execution_count is not None, f"{path.name}: code cell {index} never ran"
        counts.append(cell.execution_count)
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: run out of order {counts}"
    cells = code_cells(read(path))
    assert any(cell.outputs for cell in cells), f"{path.name}: no stored outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_errors_or_stderr_stored(path):
    for index, cell in enumerate(code_cells(read(path))):
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name}: cell {index} stored an error"
            assert output.get("name") != "stderr", (
                f"{path.name}: cell {index} stored stderr: {output.text[:200]!r}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_figure_cell_has_a_caption_name_and_alt_text(path):
    """MyST-NB reads a figure's alt text from mystnb.image.alt, nowhere else: a key one level
    off renders an image whose alt is its file path (caught here in a second, not by the site
    build an hour later)."""
    for index, cell in enumerate(code_cells(read(path))):
        if not any("image/png" in output.get("data", {}) for output in cell.outputs):
            continue
        mystnb = cell.metadata.get("mystnb", {})
        where = f"{path.name}: figure cell {index}"
        assert mystnb.get("image", {}).get("alt", "").strip(), f"{where} has no mystnb.image.alt"
        assert mystnb.get("figure", {}).get("caption", "").strip(), f"{where} has no caption"
        assert mystnb.get("figure", {}).get("name", "").startswith("fig-"), f"{where} has no fig- name"
        ignored = sorted(set(cell.metadata) - {"mystnb", "tags", "execution", "nbval_ignore_reason"})
        assert ignored == [], f"{where}: metadata keys MyST-NB ignores: {ignored}"


#: Calls that wait for a person: a prompt, a hidden password prompt, W&B's login.
PROMPTS = {"input", "getpass", "getpass.getpass", "wandb.login"}


def prompting_calls(source: str) -> list[str]:
    """The calls in `source` that would wait for someone to type (by name, parsed, so that
    `model_input(...)` is not `input(...)`)."""
    import ast

    def name(node) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return f"{name(node.value)}.{node.attr}"
        return ""

    tree = ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    return [name(node.func) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and name(node.func) in PROMPTS]


def test_the_prompt_check_can_fail():
    assert prompting_calls("x = input('name? ')") == ["input"]
    assert prompting_calls("import getpass\nkey = getpass.getpass()") == ["getpass.getpass"]
    assert prompting_calls("from getpass import getpass\nkey = getpass('key: ')") == ["getpass"]
    assert prompting_calls("import wandb\nwandb.login()") == ["wandb.login"]
    assert prompting_calls("y = model_input(x); keras.Input((4,))") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_prompts_or_logins(path):
    found = [f"cell {i}: {call}" for i, cell in enumerate(code_cells(read(path)))
             for call in prompting_calls(cell.source)]
    assert not found, f"{path.name} waits for a person: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_shape(path):
    """Learning goals, a summary and exercises with hidden solutions (CONTRIBUTING.md)."""
    text = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    assert "Learning goals" in text
    assert "## Summary" in text
    exercises = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", text)
    assert len(exercises) >= 3, f"{path.name}: {len(exercises)} exercises"
    assert sorted(exercises) == sorted(solutions), "every exercise needs a dropdown solution"


SIZE_NAME = re.compile(r"batch|epoch|steps|size|subset|images", re.IGNORECASE)
SIZE_KEYWORDS = {"epochs", "batch_size", "steps_per_epoch", "train_size", "image_size"}
TRAINING_CALLS = {"fit", "course_splits", "subset", "batches", "images_per_second", "step_schedule"}


def hard_coded_sizes(source: str) -> list[str]:
    """Sizes written as literals: a constant assigned to a name like BATCHES or EPOCHS, or
    an integer literal (other than 1) passed as epochs=, batch_size=, ... to ``fit`` or a
    library call that sets a training scale."""
    found = []
    tree = ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))

    def constant(node):
        return not any(isinstance(n, (ast.Name, ast.Attribute, ast.Call)) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            pairs = []
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += zip(target.elts, node.value.elts)
                else:
                    pairs.append((target, node.value))
            for target, value in pairs:
                numbers = [n for n in ast.walk(value) if isinstance(n, ast.Constant)
                           and isinstance(n.value, int) and not isinstance(n.value, bool)]
                if (isinstance(target, ast.Name) and SIZE_NAME.search(target.id)
                        and numbers and constant(value)):
                    found.append(f"line {node.lineno}: {target.id} = {ast.unparse(value)}")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in TRAINING_CALLS:
            named = [(k.arg, k.value) for k in node.keywords]
            named += zip(_positional_names(node.func.attr), node.args)  # sizes given by position too
            for name, value in named:
                if (name in SIZE_KEYWORDS and isinstance(value, ast.Constant)
                        and isinstance(value.value, int) and value.value != 1):  # one epoch is not a scale
                    found.append(f"line {node.lineno}: {name}={value.value!r}")
    return found


def _positional_names(call: str) -> list[str]:
    """The parameter names a call's positional arguments bind to (Keras' fit, or the
    library's function of that name)."""
    import inspect

    import keras

    from alexnet_book import data, pipeline, speed, training

    functions = {"fit": keras.Model.fit, "course_splits": data.course_splits, "subset": data.subset,
                 "batches": pipeline.batches, "images_per_second": speed.images_per_second,
                 "step_schedule": training.step_schedule}
    names = [name for name, parameter in inspect.signature(functions[call]).parameters.items()
             if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)]
    return names[1:] if call == "fit" else names  # fit's first is self


def test_the_size_check_catches_hard_coded_sizes():
    assert hard_coded_sizes("BATCHES = (32, 64, 128, 256)") == ["line 1: BATCHES = (32, 64, 128, 256)"]
    assert hard_coded_sizes("model.fit(x, y, epochs=5)") == ["line 1: epochs=5"]
    assert hard_coded_sizes("model.fit(x, y, epochs=1)\nmodel.predict(x, batch_size=512)") == []
    assert hard_coded_sizes("A, STEPS = 0.25, 12") == ["line 1: STEPS = 12"]
    assert hard_coded_sizes("EPOCHS = 2 * PROFILE.epochs\nmodel.fit(x, epochs=EPOCHS)") == []
    assert hard_coded_sizes("pipeline.batches(x, y, 512)") == ["line 1: batch_size=512"]  # by position
    assert hard_coded_sizes("model.fit(x, y, 128, 5)") == ["line 1: batch_size=128", "line 1: epochs=5"]
    assert hard_coded_sizes("pipeline.batches(x, y, 4 * PROFILE.batch_size)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_sizes_come_from_the_profile(path):
    cells = code_cells(read(path))
    source = "\n".join(cell.source for cell in cells)
    assert "PROFILE = profile.current()" in source and "print(PROFILE.describe()" in source
    found = [f"cell {i}, {hit}" for i, cell in enumerate(cells) for hit in hard_coded_sizes(cell.source)]
    assert not found, f"{path.name}: sizes not taken from the profile: {found}"


def _nbval_command() -> list[str]:
    """The pytest command `make nbval` runs, as make expands it (a comment cannot pass)."""
    import shlex
    import subprocess

    lines = subprocess.run(["make", "-n", "--no-print-directory", "nbval"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    command = next(shlex.split(line) for line in lines if " pytest " in line)
    return command[command.index("pytest") + 1:]


def test_nbval_is_strict_with_the_course_kernel_and_sanitizer():
    args = _nbval_command()
    assert "--nbval" in args and "--nbval-lax" not in args
    assert args[args.index("--nbval-kernel-name") + 1] == "alexnet-book"
    assert args[args.index("--nbval-sanitize-with") + 1] == "tests/nbval_sanitize.cfg"
    assert {str(p.relative_to(ROOT)) for p in NOTEBOOKS} <= set(args), "every notebook"
    sanitizer = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    for section in ("[timestamps]", "[wandb_run_ids]", "[tensorflow_cpp_logs]"):
        assert section in sanitizer


def test_the_course_kernel_runs_this_environment_without_capturing_c_logs():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("alexnet-book")
    except NoSuchKernel:
        pytest.fail("kernel 'alexnet-book' is not installed: run python tools/install_kernel.py")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    assert "--IPKernelApp.capture_fd_output=False" in spec.argv
    assert spec.env.get("TF_CPP_MIN_LOG_LEVEL") == "2"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapters_cite_the_paper_and_exist_in_the_bibliography(path):
    text = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    keys = set(re.findall(r"\{cite:p\}`([^`]+)`", text))
    cited = {key.strip() for group in keys for key in group.split(",")}
    bib = (ROOT / "book" / "references.bib").read_text()
    missing = [key for key in cited if f"{{{key}," not in bib]
    assert not missing, f"{path.name} cites unknown keys {missing}"
    if not path.name.startswith("00"):
        assert "section" in text.lower(), f"{path.name} never cites the paper by section"


# What the website shows a learner (issue 31): test machinery in tags, checks folded under
# one printed line, tracking shown where chapter 0 teaches it, a "Key results" box per chapter.
NBVAL_TAGS = {"nbval-ignore-output", "nbval-skip", "nbval-check-output", "nbval-raises-exception",
              "raises-exception"}
FOLDED = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


def _tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def _printed(cell) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_nbval_markers_are_tags_not_comments(path):
    """nbval reads its markers from cell tags as well as comments (nbval.plugin's
    metadata_tags); tags stay off the page, comments would be printed in the code."""
    cells = code_cells(read(path))
    comments = [i for i, cell in enumerate(cells) if "NBVAL_" in cell.source]
    assert not comments, f"{path.name}: code cells {comments} carry an NBVAL comment: use a tag"
    tagged = [i for i, cell in enumerate(cells) if _tags(cell) & NBVAL_TAGS]
    assert tagged, f"{path.name}: no cell tagged {sorted(NBVAL_TAGS)} (are its outputs all reproducible?)"


#: Why nbval may leave a cell's output uncompared: the reason's first word, in the cell's
#: metadata (`nbval_ignore_reason`), beside the tag.
UNCOMPARED_BECAUSE = ("environment:", "log:", "timing:", "trained:", "stored:")


def uncompared_cells() -> list[tuple[str, int, str]]:
    """(notebook, code cell, reason) for every cell whose output nbval does not compare."""
    return [(path.name, index, cell.metadata.get("nbval_ignore_reason", ""))
            for path in NOTEBOOKS for index, cell in enumerate(code_cells(read(path)))
            if "nbval-ignore-output" in _tags(cell)]


def test_every_cell_nbval_does_not_compare_says_why():
    """The list of uncompared cells and their reasons (printed with -s): a cell whose output
    is not compared says why; a trained number varies with the CPU (AVX-512 or not, the
    number of threads), so it is not compared digit by digit and a folded check asserts the
    lesson within the seeds' spread."""
    cells = uncompared_cells()
    for name, index, reason in cells:
        print(f"{name} cell {index}: {reason}")
    unexplained = [(name, index) for name, index, reason in cells if not reason.startswith(UNCOMPARED_BECAUSE)]
    assert not unexplained, f"tagged nbval-ignore-output without a reason {UNCOMPARED_BECAUSE}: {unexplained}"
    stray = [(path.name, i) for path in NOTEBOOKS for i, cell in enumerate(code_cells(read(path)))
             if "nbval_ignore_reason" in cell.metadata and "nbval-ignore-output" not in _tags(cell)]
    assert not stray, f"a reason on a compared cell: {stray}"


def test_chapter_3s_momentum_lesson_is_checked_not_compared_digit_by_digit():
    """The one-epoch BatchNorm accuracies differ between CPUs (0.357 with AVX-512, 0.386
    without): the printed line is not compared; the folded check keeps the lesson."""
    cells = code_cells(read(ROOT / "notebooks" / "03_lrn_vs_batchnorm.ipynb"))
    index = next(i for i, cell in enumerate(cells) if "lag = {momentum" in cell.source)
    assert "nbval-ignore-output" in _tags(cells[index])
    check = cells[index + 1]
    assert "PROFILE.checks_learning" in check.source and "lag[0.9] - lag[0.99] >" in check.source
    assert not _tags(check) & NBVAL_TAGS


def test_nbval_honours_the_tags_the_notebooks_use():
    from nbval.plugin import find_metadata_tags

    assert dict(find_metadata_tags({"tags": ["nbval-ignore-output", "hide-input"]})) == {"check": False}
    assert dict(find_metadata_tags({"tags": ["nbval-skip"]})) == {"skip": True}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_learning_checks_are_folded_under_one_printed_line(path):
    """A cell guarded by PROFILE.checks_learning (a name only the test profiles need) is
    folded, and says what it checked in one compared line that starts with "check:"."""
    for index, cell in enumerate(code_cells(read(path))):
        if "PROFILE.checks_learning" not in cell.source:
            continue
        assert _tags(cell) & {"hide-input", "hide-cell"}, f"{path.name}: check cell {index} is not folded"
        assert not _tags(cell) & NBVAL_TAGS, f"{path.name}: check cell {index}'s line is not compared"
        lines = _printed(cell).splitlines()
        assert len(lines) == 1 and lines[0].startswith("check: "), (
            f"{path.name}: check cell {index} prints {lines}, not one 'check: ...' line")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00")],
                         ids=[p.name for p in NOTEBOOKS if not p.name.startswith("00")])
def test_tracking_is_shown_in_chapter_0_and_folded_elsewhere(path):
    for index, cell in enumerate(code_cells(read(path))):
        if "tracking.sync_hint" in cell.source:
            assert _tags(cell) & FOLDED, f"{path.name}: cell {index} shows W&B's upload hint again"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_measuring_commands_are_printed_once_per_chapter(path):
    """The claims' measuring commands once per chapter at most, never once per claim."""
    from alexnet_book import claims

    text = "".join(_printed(cell) for cell in code_cells(read(path)))
    for command in (claims.GPU_COMMAND, claims.CPU_COMMAND, claims.CPU2_COMMAND):
        # the whole command: `--tier cpu` is not counted inside `--tier cpu2`
        times = len(re.findall(re.escape(command) + r"(?![\w-])", text))
        assert times <= 1, f"{path.name} prints `{command}` {times} times"


def _key_results(notebook) -> list[str]:
    """The lines glued as "key_results" (myst-nb's glue format) by the chapter's code."""
    found = []
    for cell in code_cells(notebook):
        for output in cell.outputs:
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == "key_results":
                prefix = output.metadata["scrapbook"]["mime_prefix"]
                found.append(output.data[prefix + "text/markdown"])
    assert len(found) == 1, f"{len(found)} cells glue key_results"
    return found[0].splitlines()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_key_results_box_at_the_top_shows_computed_numbers(path):
    """Each chapter opens with a "Key results" box: three to five numbers, one line each,
    pasted from what a cell below computed (glue), so no number in the box is typed."""
    notebook = read(path)
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    boxes = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "markdown" and "{admonition} Key results" in cell.source]
    assert len(boxes) == 1 and boxes[0] < first_code, f"{path.name}: no Key results box above the code"
    box = notebook.cells[boxes[0]].source
    assert "```{glue:md} key_results" in box
    label = re.search(r"\{ref\}`[^<`]*<([^>]+)>`", box).group(1)
    assert not re.search(r"\d", box.replace(label, "")), f"{path.name}: a number typed in the box"
    assert any(cell.cell_type == "markdown" and f"({label})=" in cell.source for cell in notebook.cells)
    lines = _key_results(notebook)
    assert 3 <= len(lines) <= 5, f"{path.name}: {len(lines)} key results"
    for line in lines:
        assert re.match(r"- \*\*[^*]*\d[^*]*\*\*", line), f"{path.name}: {line!r} starts with no number"


def test_chapter_6_shows_the_largest_stored_comparison_that_has_an_interval(monkeypatch, capsys):
    """A GPU's comparison (227 px) replaces the CPU's once it has two paired seeds; a GPU
    file still filling (one seed) does not."""
    import dataclasses

    from alexnet_book import models, page, profile, results, stats

    def run(file, model, seed, accuracy, size):
        return {"file": file, "model": model, "seed": seed, "test_accuracy": accuracy, "image_size": size,
                "width": 0.25, "towers": 1, "parameters": 12_810 if model == "small" else 1_000_000,
                "device": file.split("-")[1], "date": "2026-12-07", "train_images": 50_000, "epochs": 10}

    def seed_pair(file, seed, side, small, alexnet):
        return [run(file, "small", seed, small, 28), run(file, "alexnet", seed, alexnet, side)]

    cpu = [r for s in range(3) for r in seed_pair("d-cpu.jsonl", s, 99, 0.88 + s / 1000, 0.90 + s / 1000)]
    filling = seed_pair("d-H200.jsonl", 0, 227, 0.9, 0.93)
    second = seed_pair("d-H200.jsonl", 1, 227, 0.9, 0.94)
    cell = next(c.source for c in code_cells(read(ROOT / "notebooks" / "06_full_training_run.ipynb"))
                if "stored_results(REPOSITORY, \"alexnet-vs-small\")" in c.source)
    monkeypatch.setattr(page, "glue", lambda name, text: None)
    names = {"results": results, "REPOSITORY": "x", "models": models, "dataclasses": dataclasses,
             "PROFILE": profile.get("quick"), "stats": stats, "page": page}
    for stored, side in ((cpu, 99), (cpu + filling, 99), (cpu + filling + second, 227)):
        monkeypatch.setattr(results, "stored_results", lambda *args, stored=stored: stored)
        exec(cell, dict(names))
        out = capsys.readouterr().out
        assert f"AlexNet at {side}x{side}" in out, out
