"""Step 3: the tests against the recorded plain data, in a process that runs no student code (run
as `grade.py _replay ...`)."""

import json
import sys
from pathlib import Path

from grading.encoding import call_key, decode, numpy_module


def replay_tests(tests_json: str, record_json: str, rules_json: str, result_json: str) -> None:
    """Evaluate every test case with otter's doctest semantics against the recorded plain data:
    the notebook's functions become look-ups of their recorded results, its values their plain
    data, and assignment_rules answers from the source inspection."""
    import builtins
    import doctest
    import io
    import types

    np = numpy_module()
    the_tests = json.loads(Path(tests_json).read_text())
    record = json.loads(Path(record_json).read_text())
    rules_data = json.loads(Path(rules_json).read_text())

    def banned_uses(*functions):
        found = set(rules_data["everywhere"])
        for function in functions:
            name = getattr(function, "graded_name", None)
            found |= set(rules_data["uses"].get(name, ()))
        return sorted(found)

    rules = types.ModuleType("assignment_rules")
    rules.banned_uses = banned_uses
    rules.banned_imports = lambda: sorted(rules_data["imports"])
    rules.message = lambda what, uses: (
        f"{what} uses {', '.join(uses)}: the rules allow Python and NumPy only, so this question's "
        "hidden tests give no points (see the rules at the top of the notebook)"
    )
    sys.modules["assignment_rules"] = rules
    results = {}
    for question, test in the_tests.items():
        recorded = record.get("tests", {}).get(question)
        unsupported: list[str] = []
        env = {"__builtins__": builtins, "__name__": "__main__"}
        if recorded is not None:
            for name, data in recorded["values"].items():
                if isinstance(data, dict) and data.get("__function__"):
                    env[name] = replayer(name, recorded["calls"].get(name, {}), unsupported)
                else:
                    before = len(unsupported)
                    env[name] = decode(data, unsupported)
                    unsupported[before:] = [f"{name} is a {kind} object" for kind in unsupported[before:]]
        cases = []
        for code, hidden, points in test["cases"]:
            parsed = doctest.DocTestParser().parse(code, question)
            case = doctest.DocTest(
                [e for e in parsed if isinstance(e, doctest.Example)], env, question, None, None, None
            )
            runner, out = doctest.DocTestRunner(verbose=False), io.StringIO()
            runner.run(case, clear_globs=False, out=out.write)
            failed = runner.summarize(verbose=False).failed if recorded is not None else 1
            cases.append({"passed": not failed, "points": points, "hidden": hidden})
        results[question] = {
            "score": sum(c["points"] for c in cases if c["passed"]),
            "cases": cases,
            "unsupported": sorted(set(unsupported)),
            "recorded": recorded is not None,
        }
    Path(result_json).write_text(json.dumps(results))
    del np


def replayer(name: str, calls: dict, unsupported: list):
    """A stand-in for a notebook function: the recorded plain result of the recorded call with the
    same arguments (in order, when it was called more than once)."""
    used: dict[str, int] = {}

    def call(*args, **kwargs):
        key = call_key(args, kwargs)
        results = calls.get(key)
        if not results:
            raise LookupError(f"{name} was not called with these arguments when the notebook ran")
        index = min(used.get(key, 0), len(results) - 1)
        used[key] = index + 1
        data = results[index]
        if isinstance(data, dict) and "__raised__" in data:
            raise RuntimeError(f"{name} raised {data['__raised__']}")
        before = len(unsupported)
        value = decode(data, unsupported)
        unsupported[before:] = [f"{name}(...) returned a {kind} object" for kind in unsupported[before:]]
        return value

    call.graded_name = name
    return call
