"""Step 2: the submission's code in its own process, recording as plain data what each test takes
from the notebook (run as `grade.py _record ...`)."""

import ast
import json
import os
import sys
from pathlib import Path

from grading.encoding import call_key, encode, numpy_module
from grading.inspection import bound_names, cell_text, python_source


def free_names(code: str) -> list[str]:
    """The names a test case reads that it does not define: what it takes from the notebook."""
    import builtins
    import doctest

    defined, free = set(), []
    for example in doctest.DocTestParser().parse(code):
        if not isinstance(example, doctest.Example):
            continue
        tree = ast.parse(example.source)
        stored = bound_names(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id not in defined
                and node.id not in stored
                and not hasattr(builtins, node.id)
                and node.id not in free
            ):
                free.append(node.id)
        defined |= stored
    return free


# --- Step 2: the submission's code, in its own process -------------------------------------------


def record_notebook(tests_json: str, notebook_path: str, report_path: str, events_fd: str) -> None:
    """Run the notebook's code cells in this process and record, for each test, the plain data the
    test takes from the notebook. Otter's grading is imitated: `grader.check(q)` runs q's test at
    that point, the tests not checked run at the end, in order; each example of a test runs even
    when an earlier one fails."""
    import builtins
    import doctest
    import types

    np = numpy_module()
    sys.dont_write_bytecode = True
    events = int(events_fd)
    the_tests = json.loads(Path(tests_json).read_text())
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    compiled = {}
    for question, test in the_tests.items():
        examples = [
            e.source
            for code, *_ in test["cases"]
            for e in doctest.DocTestParser().parse(code)
            if isinstance(e, doctest.Example)
        ]
        free = []
        for code, *_ in test["cases"]:
            free += [n for n in free_names(code) if n not in free]
        stored = set().union(*(bound_names(ast.parse(s)) for s in examples)) if examples else set()
        compiled[question] = ([compile(s, f"<test {question}>", "exec") for s in examples], free, stored)
    report = {"tests": {}, "cells": [], "done": False}
    module_type, ns = types.ModuleType, {"__name__": "__main__", "__builtins__": builtins}
    banned = set(json.loads(Path(tests_json).with_name("banned.json").read_text()))
    our_files = {os.path.abspath(report_path), os.path.abspath(notebook_path), os.path.abspath(tests_json)}

    def emit(line: str) -> None:
        try:
            os.write(events, (line.replace("\n", " ")[:300] + "\n").encode())
        except OSError:
            pass

    def record_test(question: str) -> None:
        if question not in compiled:
            return
        codes, free, stored = compiled[question]
        env, values, calls = dict(ns), {}, {}
        for name in free:
            if name not in ns:
                continue
            value = ns[name]
            if callable(value) and type(value) is not module_type:
                env[name] = recorder(name, value, calls)
                values[name] = {"__function__": True}
            else:
                values[name] = encode(value)
        for code in codes:
            try:
                exec(code, env)
            except BaseException:  # noqa: BLE001 - a failing example does not stop the others
                pass
        for name in stored:
            if name in env:
                ns[name] = env[name]
        report["tests"][question] = {"values": values, "calls": calls}

    def recorder(name, function, calls):
        def call(*args, **kwargs):
            try:
                key = call_key(args, kwargs)
            except BaseException:  # noqa: BLE001
                key = "unkeyable"
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                calls.setdefault(name, {}).setdefault(key, []).append(
                    {"__raised__": f"{type(error).__name__}: {str(error)[:200]}"}
                )
                raise
            calls.setdefault(name, {}).setdefault(key, []).append(encode(result))
            return result

        call.__wrapped_name__ = name
        return call

    class Notebook:  # otter, as the notebook's setup cell uses it
        def __init__(self, *args, **kwargs):
            pass

        def check(self, question, *args, **kwargs):
            record_test(question)

        def export(self, *args, **kwargs):
            pass

    otter = types.ModuleType("otter")
    otter.Notebook = Notebook
    rules = types.ModuleType("assignment_rules")
    rules.banned_uses = lambda *functions: []
    rules.banned_imports = list
    rules.message = lambda what, uses: f"{what} uses {', '.join(uses)}"
    sys.modules.update(otter=otter, assignment_rules=rules)
    builtins.display = lambda *args, **kwargs: None
    builtins.get_ipython = lambda: types.SimpleNamespace(
        run_line_magic=lambda *a, **k: None,
        run_cell_magic=lambda *a, **k: None,
        system=lambda *a, **k: None,
        getoutput=lambda *a, **k: [],
    )

    def audit(event, args):
        if event == "import" and args[0].split(".")[0] in banned:
            emit(f"import {args[0].split('.')[0]}")
        elif event in (
            "subprocess.Popen",
            "os.system",
            "os.exec",
            "os.posix_spawn",
            "os.spawn",
            "os.fork",
            "os.forkpty",
            "pty.spawn",
            "os.kill",
            "os.killpg",
        ):
            emit(f"process {event}")
        elif event == "open" and len(args) > 2:
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and set(mode) & set("wax+")) or (
                not mode
                and isinstance(flags, int)
                and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            )
            if writes and isinstance(path, (str, bytes)):
                path = os.fsdecode(path)
                if os.path.abspath(path) not in our_files and not path.startswith("/dev/"):
                    emit(f"write {path}")
        elif event.startswith("ctypes."):
            emit(f"ctypes {event}")
        elif (
            event == "object.__setattr__"
            and args
            and isinstance(args[0], type)
            and args[1] not in ("__module__", "__qualname__", "__doc__")
        ):
            module = str(args[0].__dict__.get("__module__", "?"))
            if module.split(".")[0] in ("numpy", "otter", "assignment_rules", "builtins", "json", "doctest"):
                emit(f"patch {module}.{args[0].__name__}.{args[1]}")

    ready = json.dumps(report)  # noqa: F841 - json is warm before the hook
    encode(np.zeros(1))
    call_key((np.zeros(1),), {})
    sys.addaudithook(audit)
    cells = [cell_text(c.get("source", "")) for c in notebook["cells"] if c.get("cell_type") == "code"]
    for number, cell in enumerate(cells, 1):
        source, _ = python_source(cell)
        try:
            code = compile(source, f"<cell {number}>", "exec")
        except SyntaxError as error:
            report["cells"].append(f"cell {number}: SyntaxError: {error.msg}")
            continue
        try:
            exec(code, ns)
        except BaseException as error:  # noqa: BLE001 - otter runs on after an error
            report["cells"].append(f"cell {number}: {type(error).__name__}")
    for question in sorted(compiled, key=lambda q: the_tests[q]["file"]):
        if question not in report["tests"]:
            record_test(question)
    report["done"] = True
    with open(report_path, "w") as file:
        json.dump(report, file)
    emit("done")
    os._exit(0)  # no atexit handlers or finalisers of the notebook
